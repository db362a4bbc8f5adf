import KeyedState

/// A word and how often it was seen so far.
package struct WordCount: Sendable, Hashable, CustomStringConvertible {
    /// The word.
    package var word: String
    /// Occurrences seen, this one included.
    package var count: Int64

    /// `word,count`.
    package var description: String { "\(self.word),\(self.count)" }
}

/// The keyed function of the word-count job: a count per word (value state); emits the new count for every word.
package struct CountWords: KeyedProcessFunction {
    private var count: ValueState<Int64, VoidNamespace>?

    /// Creates the function.
    package init() {}

    /// Registers `count`.
    package mutating func open(_ context: KeyedContext<String>) throws {
        self.count = try context.state.valueState(ValueStateDescriptor("count", serializer: .int64))
    }

    /// Counts the word.
    package mutating func process(_ value: String, context: KeyedContext<String>, out: Collector<WordCount>) throws {
        let next = (try self.count!.value() ?? 0) + 1
        try self.count!.update(next)
        try out.collect(WordCount(word: value, count: next))
    }
}

extension StreamJob {
    /// The word count: the lines of `input` (vertex "file"), split into words by a `flatMap` chained to the
    /// source (one line, many records), keyed by word into `CountWords` (vertex "count"), into exactly-once
    /// `word,count` files under `output` (or counted and discarded without one).
    /// - Parameter throttle: The sink sleeps this long after every 100 records (a slow sink backpressures the job).
    package static func wordCount(
        input: String, output: String?, parallelism: Int = 2, throttle: Duration? = nil, name: String = "word-count"
    ) -> StreamJob {
        let job = StreamJob(name: name, defaultParallelism: parallelism)
        let counts = job.textFile(input)
            .flatMap { line in line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
            .keyBy { $0 }
            .process(name: "count") { CountWords() }
        if let output {
            counts.sink(name: "sink") { try TransactionalFileSink<WordCount>(directory: output, context: $0, throttle: throttle) { $0.description } }
        } else {
            counts.sink(name: "sink") { _ in CountingSink<WordCount>(throttle: throttle) }
        }
        return job
    }
}
