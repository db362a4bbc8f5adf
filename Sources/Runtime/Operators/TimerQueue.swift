/// A min-heap of timers by timestamp: the in-memory index over the timers kept in keyed state. It may hold a
/// timer twice or one already deleted; the keyed state is the truth and is checked when a timer fires.
struct TimerQueue<Key> {
    private var heap: [(timestamp: Int64, key: Key)] = []

    var isEmpty: Bool { self.heap.isEmpty }
    var count: Int { self.heap.count }
    /// The earliest timestamp.
    var first: Int64? { self.heap.first?.timestamp }

    mutating func insert(_ timestamp: Int64, _ key: Key) {
        self.heap.append((timestamp, key))
        var child = self.heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.heap[child].timestamp < self.heap[parent].timestamp else { break }
            self.heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest timer if it is at or before `limit`.
    mutating func pop(notAfter limit: Int64) -> (timestamp: Int64, key: Key)? {
        guard let top = self.heap.first, top.timestamp <= limit else { return nil }
        let last = self.heap.removeLast()
        if !self.heap.isEmpty {
            self.heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < self.heap.count && self.heap[left].timestamp < self.heap[smallest].timestamp { smallest = left }
                if right < self.heap.count && self.heap[right].timestamp < self.heap[smallest].timestamp { smallest = right }
                if smallest == parent { break }
                self.heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
