import CTestSupport
import Foundation
import Glibc
import Logging
import Testing

@testable import PracticeServer

@Suite("Log lines and systemd hand-over")
struct LogAndSystemdTests {
  @Test("logfmt: plain values bare; spaces, quotes, '=', backslashes and newlines quoted and escaped")
  func logfmt() {
    let line = JournalLogHandler.line(
      label: "practiced", level: .info, message: "mutation applied",
      [("peer_uid", "0"), ("request_id", "x uid=4242 pid=1"), ("q", "say \"hi\"\\"), ("nl", "a\nb"), ("empty", "")])
    #expect(line == #"<6>practiced: mutation applied peer_uid=0 request_id="x uid=4242 pid=1" q="say \"hi\"\\" nl="a\nb" empty="""#)
    #expect(!line.contains("\n"))
    // A message that could be read as a field is quoted too.
    #expect(JournalLogHandler.line(label: "p", level: .error, message: "a uid=1", []) == #"<3>p: "a uid=1""#)
  }

  @Test("journal: fields upper-cased under PRACTICED_, a value with a newline in the binary-safe form, sent as one datagram")
  func journal() throws {
    let fields = JournalLogHandler.journalFields(
      label: "practiced", level: .warning, message: "hello", [("peer_uid", "7"), ("request_id", "a\nb")])
    #expect(fields.map(\.0) == ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "PRACTICED_PEER_UID", "PRACTICED_REQUEST_ID"])
    let dir = NSTemporaryDirectory() + "journal-\(UUID().uuidString.prefix(6))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let listener = pt_dgram_listen(dir + "/socket")
    try #require(listener >= 0)
    defer { close(listener) }
    let socket = try #require(JournalSocket(path: dir + "/socket"))
    #expect(socket.send(fields))
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = pt_dgram_recv(listener, &buffer, buffer.count, 2000)
    let got = Array(buffer.prefix(max(0, n)).map { UInt8(bitPattern: $0) })
    var expected = Array("MESSAGE=hello\nPRIORITY=4\nSYSLOG_IDENTIFIER=practiced\nPRACTICED_PEER_UID=7\nPRACTICED_REQUEST_ID\n".utf8)
    expected += [3, 0, 0, 0, 0, 0, 0, 0] + Array("a\nb\n".utf8)
    #expect(got == expected)
    // Not under the journal: stderr is not the stream JOURNAL_STREAM names.
    #expect(JournalSocket.forStderr(environment: ["JOURNAL_STREAM": "1:1"]) == nil)
    #expect(JournalSocket.forStderr(environment: [:]) == nil)
  }

  @Test("socket activation: the socket named practiced is taken among several, and LISTEN_* leave the environment")
  func listenFDNames() {
    setenv("LISTEN_PID", "\(getpid())", 1)
    setenv("LISTEN_FDS", "2", 1)
    setenv("LISTEN_FDNAMES", "metrics:practiced.socket", 1)
    let taken = SystemdSocket.take()
    #expect(taken?.fd == 4 && taken?.name == "practiced.socket")
    for key in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { #expect(getenv(key) == nil, "\(key)") }
    // Another process's sockets are not ours, and the variables go all the same.
    setenv("LISTEN_PID", "1", 1)
    setenv("LISTEN_FDS", "1", 1)
    #expect(SystemdSocket.take() == nil)
    #expect(getenv("LISTEN_FDS") == nil)
  }
}

@Suite("Daemon settings")
struct DaemonSettingsTests {
  @Test("peer classes: the defaults live in PeerSettings; a given group that does not exist is refused, a default one skipped")
  func peers() throws {
    let defaults = PeerSettings()
    #expect(defaults.operatorUIDs == [0] && defaults.serviceUIDs.isEmpty)
    #expect(defaults.operatorGroups == ["practiced-admin"] && defaults.serviceGroups == ["practiced"])
    var p = PeerSettings()
    p.operatorGroups = ["no-such-group-\(getpid())"]
    #expect(try p.policy().operatorGIDs.isEmpty)
    p.operatorGroupsGiven = true
    #expect(throws: StartupError.self) { try p.policy() }
    p.operatorGroups = ["60001"]
    #expect(try p.policy().operatorGIDs == [60001])
    #expect(PeerSettings.uids("0, 1001") == [0, 1001])
    #expect(PeerSettings.uids("") == [])
    #expect(PeerSettings.uids("root") == nil)
  }

  @Test("the configuration file sets the new keys and refuses bad values")
  func configFile() throws {
    let path = NSTemporaryDirectory() + "practiced-conf-\(UUID().uuidString.prefix(6))"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try "state_directory_mode = 0750\nhealth.probe_interval_ms = 250\nmetrics.listen = 127.0.0.1:9464\nidempotency.retention_hours = 48\ninstance_id = clinic-b.2\n"
      .write(toFile: path, atomically: true, encoding: .utf8)
    var c = DaemonConfiguration()
    #expect(c.instanceID == DaemonConfiguration.hostName && !c.instanceID.isEmpty)
    #expect(c.idempotencyRetention == .seconds(24 * 3600))
    try c.load(file: path)
    #expect(c.stateDirectoryMode == 0o750 && c.healthProbeInterval == .milliseconds(250))
    #expect(c.idempotencyRetention == .seconds(48 * 3600))
    #expect(c.instanceID == "clinic-b.2")
    #expect(c.metricsListen == DaemonConfiguration.ListenAddress("127.0.0.1:9464"))
    for bad in ["state_directory_mode = 999\n", "metrics.listen = nowhere\n", "instance_id = a b\n",
                "instance_id = \(String(repeating: "x", count: 65))\n"] {
      try bad.write(toFile: path, atomically: true, encoding: .utf8)
      var d = DaemonConfiguration()
      #expect(throws: ConfigError.self) { try d.load(file: path) }
    }
  }
}
