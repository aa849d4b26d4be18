import CTestSupport
import Foundation
import Glibc
import PracticeCore

/// A child process started with posix_spawn and reaped by polling: waiting never blocks a thread of
/// Swift's cooperative pool (Foundation.Process could, and with many tests in parallel on 2 cores
/// that starved the pool).
public final class Child: Sendable {
  public let pid: Int32
  private let status = LockedState<Int32?>(nil)

  /// Starts `executable` (a path, or a name looked up in PATH) with `arguments`.
  public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
       stdin: Int32 = -1, stdout: Int32 = -1, stderr: Int32 = -1) throws {
    let path = executable.contains("/") ? executable : Child.which(executable)
    var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
    defer { envp?.forEach { free($0) } }
    let pid: Int32 = argv.withUnsafeMutableBufferPointer { a in
      if envp != nil {
        return envp!.withUnsafeMutableBufferPointer { e in pt_spawn(path, a.baseAddress, e.baseAddress, stdin, stdout, stderr) }
      }
      return pt_spawn(path, a.baseAddress, nil, stdin, stdout, stderr)
    }
    guard pid > 0 else { throw TestFailure("cannot start \(path): errno \(-pid)") }
    self.pid = pid
  }

  public static func which(_ name: String) -> String {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
      let p = "\(dir)/\(name)"
      if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return "/usr/bin/\(name)"
  }

  /// The exit status (the code, or 128 + the signal) once it has exited.
  public var exitStatus: Int32? {
    status.withLock { status in
      if status == nil {
        var st: Int32 = 0
        if pt_try_wait(pid, &st) == 1 { status = st }
      }
      return status
    }
  }

  public var isRunning: Bool { exitStatus == nil }

  public func signal(_ s: Int32) { if isRunning { kill(pid, s) } }

  /// Waits for the exit, polling.
  @discardableResult
  public func wait() async -> Int32 {
    while true {
      if let s = exitStatus { return s }
      try? await Task.sleep(for: .milliseconds(5))
    }
  }
}

/// Runs a command to its end; standard output and error go through temporary files (no pipe to fill).
public func runCommand(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                input: String? = nil) async throws -> (status: Int32, out: String, err: String) {
  let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cmd-\(UUID().uuidString.prefix(8))")
  try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: dir) }
  let outPath = dir.appendingPathComponent("out").path, errPath = dir.appendingPathComponent("err").path
  let outFD = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
  let errFD = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
  var inFD: Int32 = -1
  if let input {
    let inPath = dir.appendingPathComponent("in").path
    try Data(input.utf8).write(to: URL(fileURLWithPath: inPath))
    inFD = open(inPath, O_RDONLY | O_CLOEXEC)
  }
  let child: Child
  do {
    child = try Child(executable, arguments, environment: environment, stdin: inFD, stdout: outFD, stderr: errFD)
  } catch {
    close(outFD); close(errFD); if inFD >= 0 { close(inFD) }
    throw error
  }
  close(outFD); close(errFD); if inFD >= 0 { close(inFD) }
  let status = await child.wait()
  let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
  let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
  return (status, out, err)
}
