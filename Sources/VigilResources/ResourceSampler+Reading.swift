import VigilSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What one sweep reads of a plugin's processes: `stat` for CPU, memory and threads, the fd count
/// and limit, `io`, `status` (owner and context switches, read once through the `ProcessTable`),
/// `smaps_rollup` when asked; registered threads' `task/<tid>/stat`. Problems are counted by
/// reason, never thrown.
extension ResourceSampler {
    /// What one sweep read of a plugin's processes or threads.
    struct Reading {
        var usage = PluginUsage()
        var tracked: [Int32: Tracked] = [:]
        /// Processes whose `io` or `status` could not be read this time: their counters keep
        /// the values last read.
        var ioUnread: Set<Int32> = []
        var statusUnread: Set<Int32> = []
        /// The processes a limit action may signal, with their start times: never pid 1, a kernel
        /// thread, the sampler's own process or its parent.
        var signallable: [Int32: UInt64] = [:]
    }

    func read(pids: Set<Int32>, threads: Set<Int32>, smaps: Bool, table: inout ProcessTable, errors: inout [String]) -> Reading {
        var reading = Reading()
        if smaps && !pids.isEmpty {
            reading.usage.proportionalBytes = 0
            reading.usage.swapBytes = 0
        }
        for pid in pids.sorted() {
            guard let stat = table.stat(pid) else { continue }  // exited since it was matched
            reading.usage.processes += 1
            reading.usage.threads += stat.numThreads
            reading.usage.residentBytes += stat.residentPages * UInt64(constants.pageSize)
            reading.usage.virtualBytes += stat.virtualBytes
            var counters = ProcessCounters(userTicks: stat.utime, systemTicks: stat.stime, majorFaults: stat.majorFaults)
            defer { reading.tracked[pid] = Tracked(startTime: stat.startTime, counters: counters) }
            if stat.isKernelThread { continue }
            if pid > 1, pid != table.selfPID { reading.signallable[pid] = stat.startTime }
            var fds: Int?
            // A process that exits while it is read: its other files are gone too, and are not
            // counted again as errors; its counters keep their last figures.
            var gone = false
            do {
                fds = try source.countEntries("\(pid)/fd")
                reading.usage.openFDs += fds ?? 0
            } catch {
                if case .vanished = error { gone = true }
                noteFailure(error, into: &errors)
            }
            do {
                if let limit = try source.openFileLimit(pid: pid) {
                    reading.usage.maxFDs = min(reading.usage.maxFDs ?? .max, limit)
                    if let fds, limit > 0 { reading.usage.worstFDRatio = max(reading.usage.worstFDRatio ?? 0, Double(fds) / Double(limit)) }
                }
            } catch {
                if case .vanished = error { gone = true }
                noteFailure(error, into: &errors)
            }
            if gone {
                reading.ioUnread.insert(pid)
                reading.statusUnread.insert(pid)
                continue
            }
            // read_bytes and write_bytes, as process-exporter reports them: what reached storage.
            do throws(ProcError) {
                let io = ProcFiles.keyedValues(try source.read("\(pid)/io"), keys: ["read_bytes", "write_bytes"])
                guard let read = io[0], let written = io[1] else { throw ProcError.malformed(path: "\(pid)/io", detail: "no read_bytes or write_bytes") }
                (counters.readBytes, counters.writeBytes) = (read, written)
            } catch {
                reading.ioUnread.insert(pid)
                noteFailure(error, into: &errors)
            }
            // The main thread's, as process-exporter reports them (status does not sum threads).
            do throws(ProcError) {
                let status = try table.status(pid).get()
                guard let voluntary = status.voluntarySwitches, let involuntary = status.involuntarySwitches else {
                    throw ProcError.malformed(path: "\(pid)/status", detail: "no voluntary_ctxt_switches or nonvoluntary_ctxt_switches")
                }
                (counters.voluntarySwitches, counters.involuntarySwitches) = (voluntary, involuntary)
            } catch {
                reading.statusUnread.insert(pid)
                noteFailure(error, into: &errors)
            }
            if smaps {
                do {
                    let rollup = ProcFiles.keyedValues(try source.read("\(pid)/smaps_rollup"), keys: ["Pss", "Swap"])
                    reading.usage.proportionalBytes? += rollup[0] ?? 0
                    reading.usage.swapBytes? += rollup[1] ?? 0
                } catch {
                    noteFailure(error, into: &errors)
                }
            }
        }
        let selfPID = getpid()
        for tid in threads.sorted() {
            let path = "\(selfPID)/task/\(tid)/stat"
            do {
                let stat = try ProcStat.parse(try source.read(path), path: path)
                reading.usage.threads += 1
                // Keyed apart from pids: a registered thread of the host is not a process.
                reading.tracked[-tid] = Tracked(
                    startTime: stat.startTime, counters: ProcessCounters(userTicks: stat.utime, systemTicks: stat.stime, majorFaults: stat.majorFaults))
            } catch {
                errors.append(error.reason)
            }
        }
        return reading
    }
}
