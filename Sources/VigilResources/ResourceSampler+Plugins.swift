extension ResourceSampler {
    /// The plugins watched now, in the order given.
    public var plugins: [PluginResources] { state.withLock { $0.configs } }

    /// What `update(plugins:)` changed, by plugin name.
    public struct Update: Sendable, Equatable {
        public var added: [String] = []
        public var removed: [String] = []
        /// Plugins whose matchers, limits, version or limit policy changed; their counters carry on.
        public var changed: [String] = []
        public var unchanged: [String] = []
    }

    /// Watches `plugins` from now on, as a reload of the configuration does: plugins not
    /// watched before start from zero at the next sample, plugins no longer listed leave the
    /// exposition at the next scrape, and plugins that stay keep their counters (CPU time,
    /// violations, errors, process starts and exits, limit actions) and their start time whether
    /// or not their matchers, limits, version or policy changed. A limit that is gone no longer
    /// counts as exceeded. When a plugin's matchers change, the next sample takes a new baseline
    /// for process churn: processes that only now match, or no longer do, are neither starts nor
    /// exits. A plugin that loses its hold on its breakers (removed, its limit or its breaker
    /// policy gone) has them closed through `onBreaker`. The processes `pid:` and `pid_file:`
    /// matchers pinned are found afresh.
    @discardableResult
    public func update(plugins: [PluginResources]) throws(ResourceSamplerError) -> Update {
        try Self.check(plugins, hasBreakerHook: onBreaker != nil)
        let (update, released) = state.withLock { state in
            var update = Update()
            var released: [String] = []
            var kept: [String: PluginState] = [:]
            let before = Dictionary(state.configs.map { ($0.name, $0) }) { a, _ in a }
            for plugin in plugins {
                guard var ps = state.plugins[plugin.name], let old = before[plugin.name] else {
                    update.added.append(plugin.name)
                    kept[plugin.name] = PluginState()
                    infoSeries.publish(plugin)
                    continue
                }
                if old == plugin { update.unchanged.append(plugin.name) } else { update.changed.append(plugin.name) }
                if old.matchers != plugin.matchers { ps.churn.hasBaseline = false }
                // A reload is the operator saying "the plugin is what runs now": `pid:` and
                // `pid_file:` pin the processes they find next, a daemon restarted under a
                // reused pid included.
                ps.pins = [:]
                for resource in ResourceKind.allCases where plugin.limits[resource] == nil {
                    ps.exceeded[resource] = nil
                    ps.episodes[resource] = nil
                }
                if Self.releaseBreakers(&ps, keeping: plugin) { released.append(plugin.name) }
                infoSeries.update(from: old, to: plugin)
                kept[plugin.name] = ps
            }
            update.removed = state.configs.map(\.name).filter { kept[$0] == nil }
            for name in update.removed {
                infoSeries.withdraw(name)
                if state.plugins[name]?.breakerHeldBy.isEmpty == false { released.append(name) }
            }
            state.configs = plugins
            state.plugins = kept
            state.generation &+= 1
            // Verdicts are remembered by compiled pattern; the new matchers compiled their own.
            state.commandLines.removeAll()
            return (update, released)
        }
        for plugin in released { onBreaker?(plugin, false) }
        return update
    }

    /// Stops watching `plugin`: its series leave the exposition at the next scrape, and its
    /// breakers are closed if its limit policy held them open. Returns whether it was watched.
    @discardableResult
    public func remove(plugin: String) -> Bool {
        let removed: PluginState? = state.withLock { state in
            guard let ps = state.plugins.removeValue(forKey: plugin) else { return nil }
            state.configs.removeAll { $0.name == plugin }
            state.generation &+= 1
            infoSeries.withdraw(plugin)
            return ps
        }
        if removed?.breakerHeldBy.isEmpty == false { onBreaker?(plugin, false) }
        return removed != nil
    }

    /// Refuses a set of plugins the sampler cannot watch: a name twice, or a policy that cannot work.
    static func check(_ plugins: [PluginResources], hasBreakerHook: Bool) throws(ResourceSamplerError) {
        var seen = Set<String>()
        for plugin in plugins {
            guard seen.insert(plugin.name).inserted else { throw .duplicatePlugin(plugin.name) }
            if let problem = plugin.onLimit?.problem(for: plugin, hasBreakerHook: hasBreakerHook) {
                throw .invalidPolicy(plugin: plugin.name, problem: problem)
            }
        }
    }
}
