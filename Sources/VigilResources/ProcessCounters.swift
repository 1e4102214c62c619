/// The cumulative figures of one process that its plugin keeps once the process has exited, so
/// that the plugin's counters never go back (as process-exporter keeps them for its groups).
struct ProcessCounters: Equatable {
    var userTicks: UInt64 = 0
    var systemTicks: UInt64 = 0
    var majorFaults: UInt64 = 0
    var readBytes: UInt64 = 0
    var writeBytes: UInt64 = 0
    var voluntarySwitches: UInt64 = 0
    var involuntarySwitches: UInt64 = 0

    mutating func add(_ other: ProcessCounters) {
        userTicks &+= other.userTicks
        systemTicks &+= other.systemTicks
        majorFaults &+= other.majorFaults
        readBytes &+= other.readBytes
        writeBytes &+= other.writeBytes
        voluntarySwitches &+= other.voluntarySwitches
        involuntarySwitches &+= other.involuntarySwitches
    }

    /// Each figure raised to `other`'s where that is higher.
    mutating func formMaximum(_ other: ProcessCounters) {
        userTicks = max(userTicks, other.userTicks)
        systemTicks = max(systemTicks, other.systemTicks)
        majorFaults = max(majorFaults, other.majorFaults)
        readBytes = max(readBytes, other.readBytes)
        writeBytes = max(writeBytes, other.writeBytes)
        voluntarySwitches = max(voluntarySwitches, other.voluntarySwitches)
        involuntarySwitches = max(involuntarySwitches, other.involuntarySwitches)
    }
}
