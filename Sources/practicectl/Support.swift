import ArgumentParser
import Foundation
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeWire
import SwiftProtobuf

/// Exit codes (README, practicectl(1), EXIT STATUS):
/// - 0 success;
/// - 1 the answer is no: `health` and `status` when NOT_SERVING, `claim profile` when not ready;
/// - 10 + the status code when the daemon answered with an error (11 CANCELLED ... 13 INVALID_ARGUMENT,
///   15 NOT_FOUND, 17 PERMISSION_DENIED, 19 FAILED_PRECONDITION, 20 ABORTED, 24 UNAVAILABLE ... 26);
/// - 64 usage error; 69 the daemon could not be reached or the connection failed.
enum Exit {
  static let negative: Int32 = 1
  static let usage: Int32 = 64
  static let unavailable: Int32 = 69

  /// The exit code of an error status from the daemon.
  static func status(_ code: StatusCode) -> Int32 { 10 + code.rawValue }
}

/// Options every command that talks to the daemon takes.
struct ConnectionOptions: ParsableArguments {
  @Option(name: .long, help: "Socket path (default: $PRACTICED_SOCKET or /run/practiced/practiced.sock).")
  var socket: String?

  @Flag(name: .long, help: "Print proto3 JSON (every field, defaults included) instead of tables; errors as JSON on stderr.")
  var json = false

  @Option(name: .long, help: "Act on behalf of this account user (metadata 'actor').")
  var actor: String?

  @Option(name: .long, help: "Idempotency key for a mutation (safe retries).")
  var idempotencyKey: String?

  @Option(name: .long, help: "Request id for correlation in logs and the audit log.")
  var requestId: String?

  @Option(name: .long, help: "Deadline in milliseconds (default: the daemon's).")
  var timeoutMs: UInt32?

  @Flag(name: .long, help: "Show times in UTC, not in the account's time zone.")
  var utc = false

  @Flag(name: .long, help: "Print tables without their header line.")
  var noLegend = false

  /// The options above, by their spelling on the command line, and whether each takes a value: the
  /// command line may give them before the subcommand too (`Practicectl.main`).
  static let spellings: [String: Bool] = [
    "--socket": true, "--json": false, "--actor": true, "--idempotency-key": true, "--request-id": true, "--timeout-ms": true,
    "--utc": false, "--no-legend": false,
  ]

  var options: CallOptions {
    CallOptions(actor: actor, idempotencyKey: idempotencyKey, requestID: requestId,
                timeout: timeoutMs.map { .milliseconds(Int($0)) })
  }

  /// Connects, runs `body`, closes; maps failures to the documented exit codes, and with --json
  /// writes them to stderr as JSON.
  func run<T>(_ body: (PracticeConnection, CallOptions) async throws -> T) async throws -> T {
    Output.legend = !noLegend
    let path = socket ?? PracticeConnection.defaultSocketPath
    let connection: PracticeConnection
    do {
      connection = try await PracticeConnection.connect(path: path)
    } catch {
      fail(unreachable: "cannot reach practiced at \(path): \(Output.connectProblem(error))")
    }
    do {
      let result = try await body(connection, options)
      await connection.close()
      return result
    } catch let e as RPCError {
      await connection.close()
      if json {
        printError(Output.json(e.status, code: e.code))
      } else {
        printError(Output.describe(e))
      }
      throw ExitCode(Exit.status(e.code))
    } catch let e as ConnectionError {
      await connection.close()
      fail(unreachable: "\(e)")
    }
  }

  /// Reports a daemon that can't be reached (or a connection that failed) and exits 69.
  func fail(unreachable message: String) -> Never {
    if json {
      var status = Practice_Rpc_V1_Status()
      status.code = StatusCode.unavailable.rawValue
      status.message = message
      printError(Output.json(status, code: .unavailable))
    } else {
      printError("practicectl: \(message)")
    }
    Foundation.exit(Exit.unavailable)
  }
}

/// The paging options every list command takes.
struct PageOptions: ParsableArguments {
  @Option(help: "Page size (default 50, max 500).") var pageSize: Int32 = 0
  @Option(help: "Start at this page token.") var pageToken: String = ""
  @Flag(help: "Follow page tokens to the end (with --json: one document).") var all = false
}

/// Shell completions beyond the parser's own: enum values, time zones, and account ids from the daemon.
enum Completions {
  static let roles = CompletionKind.list(["ADMINISTRATOR", "PRACTITIONER", "SUPERVISOR", "SCHEDULER", "BILLER"])
  /// IANA names, listed when the shell asks (the list is long to put in the scripts).
  static let timeZones = CompletionKind.custom { _, _, prefix in
    TimeZone.knownTimeZoneIdentifiers.filter { $0.hasPrefix(prefix) }.sorted()
  }

  /// The accounts the daemon lists (ListAccounts: for an operator), read when the shell asks; the
  /// socket from the command line's --socket, else the default ($PRACTICED_SOCKET, ...). Nothing when
  /// the daemon can't be reached within a second.
  @Sendable static func accountIDs(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
    var socket = PracticeConnection.defaultSocketPath
    for (i, w) in words.enumerated() {
      if w == "--socket", i + 1 < words.count { socket = words[i + 1] }
      if w.hasPrefix("--socket=") { socket = String(w.dropFirst("--socket=".count)) }
    }
    let found = LockedState<[String]>([])
    let done = DispatchSemaphore(value: 0)
    Task { [socket] in
      defer { done.signal() }
      guard let c = try? await PracticeConnection.connect(path: socket) else { return }
      var req = Practice_V1_ListAccountsRequest()
      req.pageSize = 500
      let ids = (try? await c.accounts.listAccounts(req, options: CallOptions(timeout: .seconds(1))).accounts.map(\.accountID)) ?? []
      await c.close()
      found.withLock { $0 = ids }
    }
    _ = done.wait(timeout: .now() + 1.5)
    return found.withLock { $0 }.filter { $0.hasPrefix(prefix) }
  }
}

/// A secret read from a file or standard input ("-"), so that it never appears in the process list or
/// the shell's history; one trailing newline is dropped.
enum SecretInput {
  static func read(_ path: String, what: String) throws -> String {
    let data: Data
    if path == "-" {
      data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
      guard let d = FileManager.default.contents(atPath: path) else { throw ValidationError("\(what): cannot read \(path)") }
      data = d
    }
    var text = String(decoding: data, as: UTF8.self)
    if text.hasSuffix("\r\n") { text.removeLast(1) }
    if text.hasSuffix("\n") { text.removeLast() }
    return text
  }
}

func printError(_ s: String) {
  FileHandle.standardError.write(Data((s + "\n").utf8))
}

enum Output {
  /// Proto3 JSON of a message, one line, every field (defaults included: `FullJSON`).
  static func json(_ m: some SwiftProtobuf.Message) -> String {
    (try? FullJSON.string(m)) ?? "{}"
  }

  /// An error status as JSON: its code by name (and number), reason, message and violations.
  static func json(_ status: Practice_Rpc_V1_Status, code: StatusCode) -> String {
    var object: [String: Any] = [
      "code": code.name, "codeNumber": Int(code.rawValue), "reason": status.reason, "message": status.message,
      "violations": status.violations.map { ["field": $0.field, "description": $0.description_p] },
    ]
    if !status.detail.isEmpty { object["detail"] = status.detail.base64EncodedString() }
    return FullJSON.line(object)
  }

  /// The first page of a list, or with `all` every page (the typed client's paging helper).
  static func pages<Page>(_ pages: Pages<Page>, all: Bool) async throws -> [Page] {
    var out: [Page] = []
    for try await page in pages {
      out.append(page)
      if !all { break }
    }
    return out
  }

  /// What a list command prints: with --json its pages as one document; else `table` of the pages'
  /// items and, when there are more, the next page's token on stderr.
  static func list<Page: SwiftProtobuf.Message>(
    _ pages: [Page], json: Bool, token: WritableKeyPath<Page, String>, table: ([Page]) -> Void
  ) throws {
    if json {
      print(Output.json(try merged(pages, token: token)))
      return
    }
    table(pages)
    nextPage(pages.last?[keyPath: token])
  }

  /// A paged list's pages as one response: the items of every page, no next page token when the
  /// pages went to the end.
  static func merged<M: SwiftProtobuf.Message>(_ pages: [M], token: WritableKeyPath<M, String>) throws -> M {
    guard var all = pages.first else { return M() }
    for page in pages.dropFirst() { try all.merge(serializedBytes: try page.serializedBytes() as [UInt8]) }
    all[keyPath: token] = pages.last?[keyPath: token] ?? ""
    return all
  }

  /// Why a connect failed, in words an operator can act on.
  static func connectProblem(_ error: any Error) -> String {
    guard let e = error as? ConnectionError else { return "\(error)" }
    switch e.errno {
    case ENOENT: return "no such socket; is practiced.socket running (systemctl status practiced.socket), or is --socket wrong?"
    case EACCES: return "permission denied; is your user in the practiced group?"
    case ECONNREFUSED: return "connection refused; nothing is listening (is practiced running?)"
    case ETIMEDOUT: return "timed out; the daemon is not accepting connections (is it stopped or overloaded?)"
    default: return e.description
    }
  }

  static func describe(_ e: RPCError) -> String {
    var text = "error: \(e.code.name) (\(e.reason.rawValue)): \(e.message)"
    for v in e.violations { text += "\n  \(v.field): \(v.description)" }
    return text
  }

  /// Whether tables print their header line (--no-legend turns it off). Set once, before any output,
  /// by `ConnectionOptions.run`; practicectl prints from one task.
  nonisolated(unsafe) static var legend = true

  /// Prints rows as aligned columns under a header, by display width (a CJK character takes two
  /// columns, a combining mark none).
  static func table(_ header: [String], _ rows: [[String]]) {
    let rows = rows.map { $0.map(safe) }
    var widths = header.map(displayWidth)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], displayWidth(cell)) } }
    func line(_ cells: [String]) -> String {
      cells.enumerated().map { i, c in
        i == cells.count - 1 ? c : c + String(repeating: " ", count: max(widths[i] - displayWidth(c), 0))
      }.joined(separator: "  ")
    }
    if legend { print(line(header)) }
    for row in rows { print(line(row)) }
  }

  /// A paging hint: on stderr, so that stdout holds only the rows.
  static func nextPage(_ token: String?) {
    if let token, !token.isEmpty { printError("next page: --page-token \(token)") }
  }

  /// Terminal columns a string takes: East Asian wide and fullwidth characters 2, combining marks
  /// and zero-width characters 0, others 1 (a character's first scalar decides).
  static func displayWidth(_ s: String) -> Int {
    s.reduce(0) { total, ch in
      guard let v = ch.unicodeScalars.first?.value else { return total }
      let props = ch.unicodeScalars.first!.properties
      if props.generalCategory == .nonspacingMark || props.generalCategory == .enclosingMark || v == 0x200B { return total }
      let wide = (0x1100...0x115F).contains(v) || (0x2E80...0x303E).contains(v) || (0x3041...0x33FF).contains(v)
        || (0x3400...0x4DBF).contains(v) || (0x4E00...0x9FFF).contains(v) || (0xA000...0xA4CF).contains(v)
        || (0xAC00...0xD7A3).contains(v) || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v)
        || (0xFF00...0xFF60).contains(v) || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1F64F).contains(v)
        || (0x1F900...0x1F9FF).contains(v) || (0x20000...0x3FFFD).contains(v)
      return total + (wide ? 2 : 1)
    }
  }

  /// A stored value as the terminal shows it: control characters escaped, never interpreted.
  static func safe(_ s: String) -> String { ControlCharacters.escaped(s) }

  /// Prints a message as "key: value" lines.
  static func fields(_ pairs: [(String, String)]) {
    let width = pairs.map(\.0.count).max() ?? 0
    for (k, v) in pairs { print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + safe(v)) }
  }

  static func time(_ ms: Int64) -> String {
    guard ms > 0 else { return "-" }
    let f = ISO8601DateFormatter()
    return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
  }

}

/// Names of enum values as the CLI shows and accepts them ("PRACTITIONER", "warn").
enum Names {
  static let roles: [(String, Practice_V1_Role)] = [
    ("OWNER", .owner), ("ADMINISTRATOR", .administrator), ("PRACTITIONER", .practitioner),
    ("SUPERVISOR", .supervisor), ("SCHEDULER", .scheduler), ("BILLER", .biller),
  ]

  static func role(_ r: Practice_V1_Role) -> String { roles.first { $0.1 == r }?.0 ?? "UNKNOWN" }

  static func parseRole(_ text: String) throws -> Practice_V1_Role {
    let key = text.uppercased().replacingOccurrences(of: "ROLE_", with: "")
    guard let r = roles.first(where: { $0.0 == key }) else {
      throw ValidationError("unknown role \(text); one of \(roles.map(\.0).joined(separator: ", "))")
    }
    return r.1
  }

  static func roleList(_ roles: [Practice_V1_Role]) -> String { roles.map(role).joined(separator: ",") }

  static func policy(_ p: Practice_V1_RoomConflictPolicy) -> String {
    switch p {
    case .warn: "WARN"
    case .block: "BLOCK"
    default: "-"
    }
  }

  static func parsePolicy(_ text: String) throws -> Practice_V1_RoomConflictPolicy {
    switch text.uppercased() {
    case "WARN", "ROOM_CONFLICT_POLICY_WARN": return .warn
    case "BLOCK", "ROOM_CONFLICT_POLICY_BLOCK": return .block
    default: throw ValidationError("conflict policy must be WARN or BLOCK")
    }
  }

  static func state(_ s: Practice_V1_AccountState) -> String {
    switch s {
    case .active: "ACTIVE"
    case .closed: "CLOSED"
    case .purged: "PURGED"
    default: "-"
    }
  }

  static func billingProviderType(_ t: Practice_V1_BillingProviderType) -> String {
    switch t { case .individual: "INDIVIDUAL"; case .organization: "ORGANIZATION"; default: "-" }
  }
  static func parseBillingProviderType(_ s: String) throws -> Practice_V1_BillingProviderType {
    switch s.uppercased() {
    case "INDIVIDUAL": return .individual
    case "ORGANIZATION": return .organization
    default: throw ValidationError("billing provider type must be INDIVIDUAL or ORGANIZATION")
    }
  }
  static func closeReason(_ r: Practice_V1_CloseReason) -> String {
    switch r {
    case .ownerRequest: "OWNER_REQUEST"
    case .trialExpired: "TRIAL_EXPIRED"
    case .nonPayment: "NON_PAYMENT"
    default: "-"
    }
  }

  static func posDecision(_ d: Practice_V1_PosDecision) -> String {
    switch d {
    case .payerRule: "PAYER_RULE"
    case .telehealthDefault: "TELEHEALTH_DEFAULT"
    case .locationCode: "LOCATION_CODE"
    default: "-"
    }
  }
  static func taxIDType(_ t: Practice_V1_TaxIdType) -> String {
    switch t { case .ein: "EIN"; case .ssn: "SSN"; default: "-" }
  }
  static func parseTaxIDType(_ s: String) throws -> Practice_V1_TaxIdType {
    switch s.uppercased() {
    case "EIN": return .ein
    case "SSN": return .ssn
    default: throw ValidationError("tax id type must be EIN or SSN")
    }
  }
  static func npiEntityType(_ t: Practice_V1_NpiEntityType) -> String {
    switch t { case .type1: "TYPE_1"; case .type2: "TYPE_2"; default: "-" }
  }
  static func parseNPIEntityType(_ s: String) throws -> Practice_V1_NpiEntityType {
    switch s.uppercased() {
    case "TYPE_1", "1": return .type1
    case "TYPE_2", "2": return .type2
    default: throw ValidationError("NPI entity type must be TYPE_1 or TYPE_2")
    }
  }
  static func senderSource(_ s: Practice_V1_SenderEmailSource) -> String {
    switch s {
    case .businessEmail: "BUSINESS_EMAIL"
    case .initiator: "INITIATOR"
    case .billCreator: "BILL_CREATOR"
    case .notePractitioner: "NOTE_PRACTITIONER"
    default: "-"
    }
  }
  static let kinds: [(String, Practice_V1_ResourceKind)] = [
    ("ACCOUNT", .account), ("USER", .user), ("BUSINESS_INFO", .businessInfo), ("LOCATION", .location),
    ("PAYER_POS_RULE", .payerPosRule), ("ROOM", .room), ("ROOM_BOOKING", .roomBooking),
    ("SUBSCRIPTION", .subscription), ("INVOICE", .invoice),
  ]
  static func kind(_ k: Practice_V1_ResourceKind) -> String { kinds.first { $0.1 == k }?.0 ?? "-" }
  static func parseKind(_ s: String) throws -> Practice_V1_ResourceKind {
    let key = s.uppercased().replacingOccurrences(of: "RESOURCE_KIND_", with: "")
    guard let k = kinds.first(where: { $0.0 == key }) else {
      throw ValidationError("unknown kind \(s); one of \(kinds.map(\.0).joined(separator: ", "))")
    }
    return k.1
  }
  static func changeType(_ c: Practice_V1_ChangeType) -> String {
    switch c { case .created: "CREATED"; case .updated: "UPDATED"; case .deleted: "DELETED"; default: "-" }
  }
}

/// The samples of a Prometheus text exposition, by series (`name{labels}`), and each name's labels.
struct PrometheusText {
  struct Sample {
    let name: String
    let labels: [String: String]
    let value: Double
  }

  let samples: [Sample]

  init(_ text: String) {
    var samples: [Sample] = []
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
      guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
      let series = line[..<space]
      var labels: [String: String] = [:]
      var name = String(series)
      if let open = series.firstIndex(of: "{"), series.hasSuffix("}") {
        name = String(series[..<open])
        // Label values are quoted; the daemon's never hold a quote or a comma followed by a name.
        for pair in series[series.index(after: open)..<series.index(before: series.endIndex)].split(separator: "\",") {
          let kv = pair.split(separator: "=", maxSplits: 1)
          guard kv.count == 2 else { continue }
          labels[String(kv[0])] = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
      }
      samples.append(Sample(name: name, labels: labels, value: value))
    }
    self.samples = samples
  }

  func first(_ name: String) -> Sample? { samples.first { $0.name == name } }
  func value(_ name: String) -> Double? { first(name)?.value }
}

/// What `practicectl status` shows, from Describe, Health and the metrics.
struct DaemonStatus {
  let fields: [(String, String)]
  let json: String

  init(socket: String, version: String, serving: Bool, metrics: PrometheusText, now: Date) {
    let started = metrics.value("practiced_start_time_seconds")
    let uptime = started.map { max(0, now.timeIntervalSince1970 - $0) }
    let database = metrics.first("practiced_database_size_bytes")
    let lastRun = metrics.value("practiced_scheduler_last_run_timestamp_seconds")
    let lastOK = metrics.value("practiced_scheduler_last_run_success")
    func int(_ name: String) -> Int? { metrics.value(name).map { Int($0) } }
    let scheduler = lastRun.map { at in
      "\(Output.time(Int64(at * 1000))) (\(lastOK == 1 ? "ok" : "failed"))"
    } ?? "not run yet"
    fields = [
      ("version", version),
      ("uptime", uptime.map(Self.duration) ?? "-"),
      ("socket", socket),
      ("database", database.map { "\($0.labels["path"] ?? "-") (\($0.labels["backend"] ?? "-"))" } ?? "-"),
      ("database_size", database.map { Self.bytes($0.value) } ?? "-"),
      ("accounts", int("practiced_accounts").map(String.init) ?? "-"),
      ("connections", int("practiced_connections").map(String.init) ?? "-"),
      ("watchers", int("practiced_watchers").map(String.init) ?? "0"),
      ("last_scheduler_run", scheduler),
      ("health", serving ? "SERVING" : "NOT_SERVING"),
    ]
    var object: [String: Any] = [
      "version": version, "socket": socket, "health": serving ? "SERVING" : "NOT_SERVING",
      "accounts": int("practiced_accounts") ?? 0, "connections": int("practiced_connections") ?? 0,
      "watchers": int("practiced_watchers") ?? 0,
    ]
    if let uptime { object["uptimeSeconds"] = Int(uptime) }
    if let database {
      object["database"] = ["path": database.labels["path"] ?? "", "backend": database.labels["backend"] ?? "",
                            "sizeBytes": Int(database.value)]
    }
    if let lastRun {
      object["lastSchedulerRun"] = ["atMs": Int64(lastRun * 1000), "succeeded": lastOK == 1]
    }
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    json = String(decoding: data, as: UTF8.self)
  }

  static func duration(_ seconds: Double) -> String {
    let s = Int(seconds)
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60)
    if d > 0 { return "\(d)d \(h)h \(m)m" }
    if h > 0 { return "\(h)h \(m)m" }
    if m > 0 { return "\(m)m \(s % 60)s" }
    return "\(s)s"
  }

  static func bytes(_ n: Double) -> String {
    if n >= 1_048_576 { return String(format: "%.1f MiB", n / 1_048_576) }
    if n >= 1024 { return String(format: "%.1f KiB", n / 1024) }
    return "\(Int(n)) B"
  }
}
