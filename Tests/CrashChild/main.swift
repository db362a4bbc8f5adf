// The child process of the crash tests: runs a seeded workload with a checkpoint every `steps` changes, prints
// "completed <id>" the moment each checkpoint's `_metadata` is renamed into place (before the deletions its
// publish triggers can run and hit a crash point on the cleaner thread), and arms a crash point (SIGKILL) at
// checkpoint `crashAt`.
//
// Usage: weir-crash-child <root> <work> <crash-point> <seed> <checkpoints> <steps> <crashAt>
//        weir-crash-child simulate <seed> <directory> <fault-rate>
import Checkpointing
import Foundation
import KeyedState
import StateTestSupport

let arguments = CommandLine.arguments
// `weir-crash-child simulate SEED DIRECTORY FAULT-RATE`: the first attempt of a seeded simulation, for
// `Simulation.run` to kill with SIGKILL.
if arguments.count == 5, arguments[1] == "simulate", let seed = UInt64(arguments[2]), let rate = Double(arguments[4]) {
    exit(Simulation.runFirstAttempt(SimulationCase(seed: seed, faultRate: rate), directory: arguments[3]))
}
guard arguments.count == 8, let point = CrashPoint(rawValue: arguments[3]), let seed = UInt64(arguments[4]),
    let checkpoints = Int64(arguments[5]), let steps = Int(arguments[6]), let crashAt = Int64(arguments[7])
else {
    FileHandle.standardError.write(Data("usage: weir-crash-child root work point seed checkpoints steps crashAt\n".utf8))
    exit(2)
}
do {
    let published = InterceptingFileSystem(afterRename: { destination in
        let parts = destination.split(separator: "/")
        guard parts.last == "_metadata", let folder = parts.dropLast().last, folder.hasPrefix("chk-"),
            let id = Int64(folder.dropFirst(4))
        else { return }
        FileHandle.standardOutput.write(Data("completed \(id)\n".utf8))
    })
    let storage = try CheckpointStorage(root: arguments[1], fileSystem: published)
    let backend = try CheckpointedBackend<Int64>.open(
        backendID: "op/0", storage: storage, workingDirectory: arguments[2], engine: .rocksDB(), keySerializer: .int64,
        strategy: .changelog(materializationInterval: .zero, persistThreshold: 2_048))
    let states = try CheckpointWorkload.register(backend.state)
    var workload = CheckpointWorkload(seed: seed)
    for id in Int64(1)...checkpoints {
        if id == crashAt { CrashPoint.arm(point) }
        for _ in 0..<steps { try workload.step(states) }
        if id % 2 == 0 { try backend.materializeNow() }
        try backend.checkpoint(id)
    }
    try backend.close()
    storage.close()
} catch {
    FileHandle.standardError.write(Data("child failed: \(error)\n".utf8))
    exit(1)
}
