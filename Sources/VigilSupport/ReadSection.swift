#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CVigilSystem
import Synchronization

/// Read sections and grace periods (user-space RCU, the "memb" flavour of liburcu), so that
/// lock-free readers can search a structure while a writer removes objects from it, and the
/// writer frees them only once no reader can still be looking at them.
///
/// A reader marks its thread as inside a section with two plain stores, no atomic
/// read-modify-write and no fence: `enter()` before it loads a shared pointer, `exit(_:)` once
/// it holds a strong reference to what it found. A writer that has unpublished objects calls
/// `synchronize()`: one `membarrier(2)` orders every reader thread's stores against the
/// writer's, then it waits until each section that was open has closed. Where the kernel
/// refuses membarrier (old kernels, strict seccomp filters), readers fall back to a full fence
/// on entry: slower, still correct.
///
/// Sections nest; `enter` and `exit` are not inlined on purpose, so that the optimizer moves no
/// load of the shared pointer above `enter` and no retain of what was found below `exit`.
public enum ReadSection {
    /// What `exit(_:)` needs to close the section `enter()` opened.
    public struct Token {
        let slot: UnsafeMutablePointer<Slot>
        let nested: Bool
    }

    /// One thread's state: the token of its open section (odd), or 0.
    struct Slot: ~Copyable {
        let state = Atomic<UInt64>(0)
        /// The number of the thread's last section; only the owning thread touches it. Atomic
        /// (relaxed, a plain move) so that no access to the slot ever writes to it as a whole.
        let sequence = Atomic<UInt64>(0)
    }

    /// Every slot ever made; slots of exited threads are reused, never freed.
    private static let registry = Locked(Registry())
    private struct Registry {
        var slots: [UnsafeMutablePointer<Slot>] = []
        var free: [UnsafeMutablePointer<Slot>] = []
    }

    private enum Barrier { case expedited, global, fence }

    private static let barrier: Barrier = {
        let registerPrivateExpedited: Int32 = 1 << 4  // MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED
        if vigil_membarrier(registerPrivateExpedited, 0) == 0 { return .expedited }
        let query = vigil_membarrier(0, 0)  // MEMBARRIER_CMD_QUERY: a mask of what the kernel offers
        if query > 0, query & 1 != 0 { return .global }  // MEMBARRIER_CMD_GLOBAL
        return .fence
    }()

    private static let readersNeedFence = Atomic<Bool>(false)
    private static let setUp: Void = {
        if barrier == .fence { readersNeedFence.store(true, ordering: .releasing) }
    }()

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { raw in
            guard let raw else { return }
            ReadSection.release(raw.assumingMemoryBound(to: Slot.self))
        }
        return key
    }()

    /// Opens a read section on this thread.
    @inline(never)
    public static func enter() -> Token {
        let slot = currentSlot()
        if slot.pointee.state.load(ordering: .relaxed) != 0 { return Token(slot: slot, nested: true) }
        let sequence = slot.pointee.sequence.load(ordering: .relaxed) &+ 2
        slot.pointee.sequence.store(sequence, ordering: .relaxed)
        slot.pointee.state.store(sequence | 1, ordering: .relaxed)
        if readersNeedFence.load(ordering: .relaxed) { atomicMemoryFence(ordering: .sequentiallyConsistent) }
        return Token(slot: slot, nested: false)
    }

    /// Closes the section `token` belongs to.
    @inline(never)
    public static func exit(_ token: Token) {
        if !token.nested { token.slot.pointee.state.store(0, ordering: .releasing) }
    }

    /// Waits until every read section open when it was called has closed. Afterwards no
    /// reader can hold a pointer it loaded before the call: objects unpublished before the call
    /// may be freed. Must not be called inside a read section. Costs one system call and, when
    /// sections are open, a few scheduler yields; call it for a batch of objects, not for each.
    public static func synchronize() {
        _ = setUp
        registry.withLock { registry in
            switch barrier {
            case .expedited: _ = vigil_membarrier(1 << 3, 0)  // MEMBARRIER_CMD_PRIVATE_EXPEDITED
            case .global: _ = vigil_membarrier(1, 0)  // MEMBARRIER_CMD_GLOBAL
            case .fence: atomicMemoryFence(ordering: .sequentiallyConsistent)
            }
            for slot in registry.slots {
                let open = slot.pointee.state.load(ordering: .acquiring)
                guard open != 0 else { continue }
                while slot.pointee.state.load(ordering: .acquiring) == open { sched_yield() }
            }
        }
    }

    /// One load relative to the thread pointer, inlined into `enter`; the first section of a
    /// thread makes its slot out of line.
    @inline(__always)
    private static func currentSlot() -> UnsafeMutablePointer<Slot> {
        if let raw = vigil_read_section_slot_get() { return raw.assumingMemoryBound(to: Slot.self) }
        return makeSlot()
    }

    @inline(never)
    private static func makeSlot() -> UnsafeMutablePointer<Slot> {
        _ = setUp
        let slot = registry.withLock { registry -> UnsafeMutablePointer<Slot> in
            if let reused = registry.free.popLast() { return reused }
            let fresh = UnsafeMutablePointer<Slot>.allocate(capacity: 1)
            fresh.initialize(to: Slot())
            registry.slots.append(fresh)
            return fresh
        }
        // The key is kept only for its destructor, which hands the slot back when the thread ends.
        pthread_setspecific(key, slot)
        vigil_read_section_slot_set(slot)
        return slot
    }

    /// A thread ends: its slot goes back to the free list.
    private static func release(_ slot: UnsafeMutablePointer<Slot>) {
        // Runs on the ending thread: a section it opens in a later destructor takes a new slot
        // instead of this one, which another thread may be given.
        vigil_read_section_slot_set(nil)
        slot.pointee.state.store(0, ordering: .releasing)
        registry.withLock { $0.free.append(slot) }
    }
}
