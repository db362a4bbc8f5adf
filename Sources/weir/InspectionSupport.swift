import ArgumentParser
import Checkpointing
import Foundation

/// What every inspection command shares: one-line errors with the documented exit codes, JSON lines, byte sizes.
enum InspectionSupport {
    /// Runs `body`; a `CheckpointError` becomes `error: …` on stderr and exit 1 (damaged or unreadable content),
    /// 74 (missing file or I/O) or 64 (usage).
    static func run(_ body: () throws(CheckpointError) -> Int32) throws {
        let code: Int32
        do throws(CheckpointError) {
            code = try body()
        } catch {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            switch error.code {
            case .missing, .io, .noSpace, .locked: throw ExitCode(74)
            case .invalidArgument: throw ExitCode(64)
            default: throw ExitCode(1)
            }
        }
        if code != 0 { throw ExitCode(code) }
    }

    /// `$TMPDIR/<name>-<pid>` (or under `/tmp`): this process's scratch folder for `name`.
    static func scratchDirectory(_ name: String) -> String {
        (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/\(name)-\(getpid())"
    }

    /// One JSON object on one line (keys sorted).
    static func jsonLine(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// `1.2 MB`-style sizes.
    static func bytes(_ count: Int) -> String {
        switch count {
        case ..<1_000: "\(count) B"
        case ..<1_000_000: String(format: "%.1f kB", Double(count) / 1e3)
        case ..<1_000_000_000: String(format: "%.1f MB", Double(count) / 1e6)
        default: String(format: "%.2f GB", Double(count) / 1e9)
        }
    }

    /// Left-aligned columns.
    static func table(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = first.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// Lines written to standard output through a 64 KiB buffer (`print` per line costs more than the rendering).
    final class Output {
        private var buffer: [UInt8] = []

        init() { self.buffer.reserveCapacity(1 << 16) }

        deinit { self.flush() }

        /// Appends one line.
        func line(_ text: String) {
            self.buffer.append(contentsOf: text.utf8)
            self.buffer.append(0x0A)
            if self.buffer.count >= 1 << 16 { self.flush() }
        }

        /// Writes what is buffered.
        func flush() {
            guard !self.buffer.isEmpty else { return }
            FileHandle.standardOutput.write(Data(self.buffer))
            self.buffer.removeAll(keepingCapacity: true)
        }
    }

}
