import ArgumentParser
import Vigil

/// The `vigil` sidecar. Its commands (`serve`, `check`, `push`, `demo`) arrive with the sidecar
/// issue; until then it only tells its version.
@main
struct VigilCommand: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Observability for Swift plugin hosts: metrics, traces and resource limits.",
        discussion: "The sidecar commands (serve, check, push, demo) are not built yet.",
        version: version
    )
}
