import VigilContract
import VigilMetrics
import VigilSupport

/// `vigil_plugin_info{plugin,version}` and `vigil_plugin_start_time_seconds{plugin}` for the
/// plugins a sampler watches. They are registered families, not collected ones, so that an
/// in-process `PluginObserver` that registers the same descriptors writes into the same series.
struct PluginInfoSeries: Sendable {
    let info: GaugeFamily
    let startTime: GaugeFamily

    init(registry: Registry) throws(RegistrationError) {
        info = try registry.register(VigilMetric.pluginInfo)
        startTime = try registry.register(VigilMetric.pluginStartTime)
    }

    /// A plugin is watched from now on.
    func publish(_ plugin: PluginResources) {
        info.labels(plugin.name, plugin.version ?? "").set(1)
        startTime.labels(plugin.name).set(SystemClock.wallSeconds())
    }

    /// A plugin that stays watched may have a new version; its start time stays.
    func update(from old: PluginResources, to new: PluginResources) {
        guard old.version != new.version else { return }
        info.remove(old.name, old.version ?? "")
        info.labels(new.name, new.version ?? "").set(1)
    }

    /// A plugin is no longer watched.
    func withdraw(_ name: String) {
        info.removeAll(matching: ["plugin": name])
        startTime.removeAll(matching: ["plugin": name])
    }
}
