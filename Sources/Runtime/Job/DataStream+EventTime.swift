extension DataStream {
    /// Assigns event time: tracks the largest timestamp seen and emits the watermark `largest - outOfOrderness - 1`
    /// (at most every `interval` records, and before every checkpoint barrier), so records up to `outOfOrderness`
    /// late are still on time. Chained into this stream's task.
    public func assignWatermarks(
        outOfOrderness: Int64 = 0, interval: Int = 256, timestamp: @escaping @Sendable (T) -> Int64
    ) -> DataStream<T> {
        let attach = self.attach
        return DataStream(job: self.job, vertex: self.vertex) { task, downstream in
            var largest = Int64.min
            var sinceLast = 0
            try attach(task) { value in
                largest = max(largest, timestamp(value))
                try downstream(value)
                sinceLast += 1
                if sinceLast >= interval, largest > Int64.min + outOfOrderness + 1 {
                    sinceLast = 0
                    try task.emitWatermark(largest - outOfOrderness - 1)
                }
            }
        }
    }
}
