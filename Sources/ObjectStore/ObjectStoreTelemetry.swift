import Logging
import Metrics

/// The object-storage client's log and metrics (swift-log label `weir.object-store`; swift-metrics, to whatever
/// backend the program bootstrapped):
///
/// - `weir_object_storage_requests` (counter; `method`, `outcome` ok/retried/failed): every HTTP attempt.
/// - `weir_object_storage_retries` (counter; `method`): attempts made again after a timeout, a reset or a 5xx.
/// - `weir_object_storage_request_duration` (timer; `method`): each attempt, answered or not.
enum ObjectStoreTelemetry {
    static let log = Logger(label: "weir.object-store")

    /// Counts one attempt of a request and, when it is retried, the retry.
    static func attempt(_ method: String, outcome: String, duration: Duration) {
        Counter(label: "weir_object_storage_requests", dimensions: [("method", method), ("outcome", outcome)]).increment()
        Timer(label: "weir_object_storage_request_duration", dimensions: [("method", method)]).record(duration: duration)
        if outcome == "retried" {
            Counter(label: "weir_object_storage_retries", dimensions: [("method", method)]).increment()
        }
    }
}
