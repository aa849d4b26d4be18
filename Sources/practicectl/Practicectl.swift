import ArgumentParser
import Foundation
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeWire
import SwiftProtobuf

@main
struct Practicectl: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "practicectl",
    abstract: "Drive practiced, the practice account-settings daemon.",
    discussion: """
      Talks to practiced over its Unix socket (--socket, or $PRACTICED_SOCKET). The connection options
      (--socket, --json, --actor, --idempotency-key, --request-id, --timeout-ms) go before or after the
      subcommand. Exit status: 0 success; 1 the answer is no (health NOT_SERVING, a claim profile not
      ready); 10 + the status code when the daemon answered with an error (13 INVALID_ARGUMENT,
      15 NOT_FOUND, 17 PERMISSION_DENIED, 19 FAILED_PRECONDITION, 20 ABORTED, 24 UNAVAILABLE, ...);
      64 usage error; 69 the daemon could not be reached. Secrets (--tax-id-file, --token-file) are
      read from a file or standard input. Shell completions:
      practicectl --generate-completion-script bash|zsh|fish.
      """,
    version: PracticeVersion.string,
    subcommands: [
      AccountCommand.self, UserCommand.self, BusinessCommand.self, LocationCommand.self, PosCommand.self,
      PayerRuleCommand.self, RoomCommand.self, BookingCommand.self, BillingCommand.self, InvoiceCommand.self, ClaimCommand.self,
      AuditCommand.self, WatchCommand.self,
      CallCommand.self, DescribeCommand.self, HealthCommand.self, StatusCommand.self, MetricsCommand.self,
    ])

  /// The connection options may come before the subcommand (`practicectl --socket S health`): they
  /// are moved after it, where the subcommand's parser reads them.
  static func main() async {
    let args = reordered(Array(CommandLine.arguments.dropFirst()))
    if let message = unknownCommand(args) {
      printError(message)
      Foundation.exit(Exit.usage)
    }
    await main(args)
  }

  /// A mistyped subcommand (`practicectl acount list`): the message naming the closest ones, or nil.
  static func unknownCommand(_ args: [String]) -> String? {
    var subcommands: [any ParsableCommand.Type] = Practicectl.configuration.subcommands
    var path = ["practicectl"]
    for word in args {
      guard !subcommands.isEmpty, !word.hasPrefix("-"), word != "help" else { return nil }
      var matched: (any ParsableCommand.Type)?
      for c in subcommands where c._commandName == word || c.configuration.aliases.contains(word) { matched = c }
      if let matched {
        subcommands = matched.configuration.subcommands
        path.append(word)
        continue
      }
      var known: [String] = []
      for c in subcommands { known.append(c._commandName) }
      let close = known.filter { editDistance($0, word) <= 2 || $0.hasPrefix(word) }
      let hint = close.isEmpty ? "one of: \(known.joined(separator: ", "))" : "did you mean \(close.joined(separator: " or "))?"
      return "practicectl: unknown command \((path.dropFirst() + [word]).joined(separator: " ")); \(hint)"
    }
    return nil
  }

  static func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
      var previous = row[0]
      row[0] = i
      for j in stride(from: 1, through: b.count, by: 1) {
        let current = row[j]
        row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
        previous = current
      }
    }
    return a.isEmpty ? b.count : row[b.count]
  }

  static func reordered(_ args: [String]) -> [String] {
    var moved: [String] = []
    var i = 0
    while i < args.count, args[i].hasPrefix("--") {
      let name = String(args[i].split(separator: "=", maxSplits: 1)[0])
      guard let takesValue = ConnectionOptions.spellings[name] else { break }
      moved.append(args[i])
      if takesValue && !args[i].contains("=") && i + 1 < args.count {
        moved.append(args[i + 1])
        i += 1
      }
      i += 1
    }
    guard !moved.isEmpty, i < args.count else { return args }
    return Array(args[i...]) + moved
  }
}

// MARK: - account

struct AccountCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "account", abstract: "Create, show, list and configure accounts.",
    subcommands: [Create.self, Get.self, List.self, Settings.self, Close.self, Reopen.self, Export.self, TransferOwner.self])

  static func show(_ a: Practice_V1_Account) {
    Output.fields([
      ("account_id", a.accountID), ("practice_name", a.practiceName), ("state", Names.state(a.state)),
      ("owner_user_id", a.ownerUserID), ("time_zone", a.settings.timeZone),
      ("room_conflict_policy", Names.policy(a.settings.roomConflictPolicy)), ("version", "\(a.version)"),
      ("created_at", Output.time(a.createdAtMs)), ("change_sequence", "\(a.changeSequence)"),
    ] + (a.state == .active ? [] : [
      ("closed_at", Output.time(a.closedAtMs)), ("close_reason", Names.closeReason(a.closeReason)),
      ("retention_ends_at", a.retentionEndsAtMs == 0 ? "kept by the archive subscription" : Output.time(a.retentionEndsAtMs)),
      ("purged_at", Output.time(a.purgedAtMs)),
    ]))
  }

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create an account and its owner (operators only).")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The practice name.") var name: String
    @Option(help: "The owner's name.") var ownerName: String
    @Option(help: "The owner's email.") var ownerEmail: String = ""
    @Option(help: "Extra roles for the owner (repeatable): PRACTITIONER, BILLER, ...", completion: Completions.roles) var ownerRole: [String] = []
    @Option(help: "IANA time zone (default UTC).", completion: Completions.timeZones) var timeZone: String?
    @Option(help: "Room conflict policy: WARN (default) or BLOCK.", completion: .list(["WARN", "BLOCK"])) var conflictPolicy: String?

    func run() async throws {
      var req = Practice_V1_CreateAccountRequest()
      req.practiceName = name
      req.ownerName = ownerName
      req.ownerEmail = ownerEmail
      req.ownerRoles = try ownerRole.map(Names.parseRole)
      if let timeZone { req.settings.timeZone = timeZone }
      if let conflictPolicy { req.settings.roomConflictPolicy = try Names.parsePolicy(conflictPolicy) }
      let resp = try await connection.run { c, o in try await c.accounts.createAccount(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      AccountCommand.show(resp.account)
      print("owner:")
      UserCommand.table([resp.owner])
    }
  }

  struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show an account.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String

    func run() async throws {
      var req = Practice_V1_GetAccountRequest()
      req.accountID = accountID
      let resp = try await connection.run { c, o in try await c.accounts.getAccount(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      AccountCommand.show(resp.account)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List accounts (operators only).")
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Closed and purged accounts too.") var includeClosed = false
    @OptionGroup var paging: PageOptions

    func run() async throws {
      var req = Practice_V1_ListAccountsRequest()
      req.includeClosed = includeClosed
      req.pageSize = paging.pageSize
      req.pageToken = paging.pageToken
      let pages = try await connection.run { c, o in
        try await Output.pages(c.accounts.listAccountsPages(req, options: o), all: paging.all)
      }
      try Output.list(pages, json: connection.json, token: \.nextPageToken) { pages in
        Output.table(["ACCOUNT", "PRACTICE", "STATE", "TIME ZONE", "VERSION"], pages.flatMap(\.accounts).map {
          [$0.accountID, $0.practiceName, Names.state($0.state), $0.settings.timeZone, "\($0.version)"]
        })
      }
    }
  }

  struct Settings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Change an account's settings.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(help: "IANA time zone.", completion: Completions.timeZones) var timeZone: String?
    @Option(help: "Room conflict policy: WARN or BLOCK.", completion: .list(["WARN", "BLOCK"])) var conflictPolicy: String?
    @Option(help: "Fail unless the account is at this version (0: unconditional).") var expectedVersion: Int64 = 0

    func validate() throws {
      if timeZone == nil && conflictPolicy == nil { throw ValidationError("nothing to change: give --time-zone or --conflict-policy") }
    }

    func run() async throws {
      var req = Practice_V1_UpdateAccountSettingsRequest()
      req.accountID = accountID
      req.expectedVersion = expectedVersion
      if let timeZone { req.settings.timeZone = timeZone; req.updateMask.append("time_zone") }
      if let conflictPolicy {
        req.settings.roomConflictPolicy = try Names.parsePolicy(conflictPolicy)
        req.updateMask.append("room_conflict_policy")
      }
      let resp = try await connection.run { c, o in try await c.accounts.updateAccountSettings(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      AccountCommand.show(resp.account)
    }
  }
}

// MARK: - user

struct UserCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "user", abstract: "Add, change, deactivate and list an account's users.",
    subcommands: [Add.self, Update.self, Deactivate.self, Reactivate.self, List.self])

  static func table(_ users: [Practice_V1_User]) {
    Output.table(["USER", "NAME", "EMAIL", "ROLES", "ACTIVE", "VERSION", "NPI", "TAXONOMY"], users.map {
      [$0.userID, $0.name, $0.email.isEmpty ? "-" : $0.email, Names.roleList($0.roles), $0.active ? "yes" : "no", "\($0.version)",
       $0.npi.isEmpty ? "-" : $0.npi, $0.taxonomyCode.isEmpty ? "-" : $0.taxonomyCode]
    })
  }

  struct Add: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Add a user to an account.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(help: "The user's name.") var name: String
    @Option(help: "The user's email.") var email: String = ""
    @Option(help: "A role (repeatable): ADMINISTRATOR, PRACTITIONER, SUPERVISOR, SCHEDULER, BILLER.", completion: Completions.roles) var role: [String] = []
    @Option(help: "The practitioner's individual NPI (TYPE_1), for claims.") var npi: String = ""
    @Option(help: "The practitioner's taxonomy code, for claims.") var taxonomyCode: String = ""

    func run() async throws {
      var req = Practice_V1_AddUserRequest()
      req.accountID = accountID
      req.name = name
      req.email = email
      req.roles = try role.map(Names.parseRole)
      req.npi = npi
      req.taxonomyCode = taxonomyCode
      let resp = try await connection.run { c, o in try await c.accounts.addUser(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      UserCommand.table([resp.user])
    }
  }

  struct Update: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Change a user's name, email, roles, NPI or taxonomy code.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument(help: "The user id.") var userID: String
    @Option(help: "New name.") var name: String?
    @Option(help: "New email (empty to clear).") var email: String?
    @Option(help: "The complete new set of roles (repeatable).", completion: Completions.roles) var role: [String] = []
    @Option(help: "New individual NPI (empty to clear).") var npi: String?
    @Option(help: "New taxonomy code (empty to clear).") var taxonomyCode: String?
    @Option(help: "Fail unless the user is at this version (0: unconditional).") var expectedVersion: Int64 = 0

    func validate() throws {
      if name == nil && email == nil && role.isEmpty && npi == nil && taxonomyCode == nil {
        throw ValidationError("nothing to change: give --name, --email, --role, --npi or --taxonomy-code")
      }
    }

    func run() async throws {
      var req = Practice_V1_UpdateUserRequest()
      req.accountID = accountID
      req.userID = userID
      req.expectedVersion = expectedVersion
      if let name { req.user.name = name; req.updateMask.append("name") }
      if let email { req.user.email = email; req.updateMask.append("email") }
      if !role.isEmpty { req.user.roles = try role.map(Names.parseRole); req.updateMask.append("roles") }
      if let npi { req.user.npi = npi; req.updateMask.append("npi") }
      if let taxonomyCode { req.user.taxonomyCode = taxonomyCode; req.updateMask.append("taxonomy_code") }
      let resp = try await connection.run { c, o in try await c.accounts.updateUser(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      UserCommand.table([resp.user])
    }
  }

  struct Deactivate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Deactivate a user (users are never deleted).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument(help: "The user id.") var userID: String
    @Option(help: "Fail unless the user is at this version (0: unconditional).") var expectedVersion: Int64 = 0

    func run() async throws {
      var req = Practice_V1_DeactivateUserRequest()
      req.accountID = accountID
      req.userID = userID
      req.expectedVersion = expectedVersion
      let resp = try await connection.run { c, o in try await c.accounts.deactivateUser(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      UserCommand.table([resp.user])
    }
  }

  struct Reactivate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make a deactivated user active again (same id and history).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument(help: "The user id.") var userID: String
    @Option(help: "Fail unless the user is at this version (0: unconditional).") var expectedVersion: Int64 = 0

    func run() async throws {
      var req = Practice_V1_ReactivateUserRequest()
      req.accountID = accountID
      req.userID = userID
      req.expectedVersion = expectedVersion
      let resp = try await connection.run { c, o in try await c.accounts.reactivateUser(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      UserCommand.table([resp.user])
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List an account's users.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Flag(help: "Deactivated users too.") var includeInactive = false
    @OptionGroup var paging: PageOptions

    func run() async throws {
      var req = Practice_V1_ListUsersRequest()
      req.accountID = accountID
      req.includeInactive = includeInactive
      req.pageSize = paging.pageSize
      req.pageToken = paging.pageToken
      let pages = try await connection.run { c, o in
        try await Output.pages(c.accounts.listUsersPages(req, options: o), all: paging.all)
      }
      try Output.list(pages, json: connection.json, token: \.nextPageToken) { UserCommand.table($0.flatMap(\.users)) }
    }
  }
}

// MARK: - generic

struct CallCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "call",
    abstract: "Call any method with a JSON request (proto3 JSON mapping); prints JSON.",
    discussion: "METHOD is a full path (/practice.v1.AccountService/GetAccount), Service/Method, or a unique method name. JSON defaults to {} ; '-' reads it from standard input.")
  @OptionGroup var connection: ConnectionOptions
  @Argument(help: "The method.") var method: String
  @Argument(help: "The request as JSON.") var request: String = "{}"

  func run() async throws {
    guard let m = MethodCatalog.lookup(method) else {
      printError("practicectl: unknown method \(method); see practicectl describe")
      throw ExitCode(Exit.usage)
    }
    let text = request == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : request
    let payload: Data
    do {
      payload = try m.requestType.init(jsonString: text).serializedData()
    } catch {
      printError("practicectl: the request is not a valid \(m.requestType.protoMessageName) in JSON: \(error)")
      throw ExitCode(Exit.usage)
    }
    try await connection.run { c, o in
      if m.serverStreaming {
        for try await item in c.serverStream(method: m.path, payload: payload, options: o) {
          let message: any SwiftProtobuf.Message = try m.responseType.init(serializedBytes: item)
          print(Output.json(message))
        }
      } else {
        let data = try await c.unary(method: m.path, payload: payload, options: o)
        let message: any SwiftProtobuf.Message = try m.responseType.init(serializedBytes: data)
        print(Output.json(message))
      }
    }
  }
}

struct DescribeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "describe",
    abstract: "The methods the daemon serves, or one method's or type's fields (Reflection/Describe).",
    discussion: """
      Without NAME: every method. NAME is a method (GetAccount, AccountService/GetAccount or its full path):
      its request and response fields; or a message or enum type (Address, practice.v1.Address): its
      fields or values. Read from the descriptors the daemon serves, like grpcurl describe.
      """)
  @OptionGroup var connection: ConnectionOptions
  @Argument(help: "A method or a type.") var name: String?

  func run() async throws {
    let resp = try await connection.run { c, o in try await c.reflection.describe(options: o) }
    if connection.json && name == nil { print(Output.json(resp)); return }
    let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: resp.fileDescriptorSet)
    guard let name else {
      print("\(resp.methods.count) methods, \(set.file.count) proto files")
      for method in resp.methods {
        let streaming = MethodCatalog.method(method)?.serverStreaming == true ? "  (server streaming)" : ""
        print(method + streaming)
      }
      return
    }
    let index = DescriptorIndex(set)
    if let m = MethodCatalog.lookup(name), resp.methods.contains(m.path) {
      let request = "." + m.requestType.protoMessageName, response = "." + m.responseType.protoMessageName
      print("rpc \(m.path)(\(request.dropFirst())) returns (\(m.serverStreaming ? "stream " : "")\(response.dropFirst()))"
            + (m.hasSideEffects ? "" : "  // no side effects"))
      for type in [request, response] { print(""); Self.describe(type, index) }
      return
    }
    guard let type = index.resolve(name) else {
      printError("practicectl: no method or type named \(name); see practicectl describe")
      throw ExitCode(Exit.usage)
    }
    Self.describe(type, index)
  }

  /// A message's fields (number, name, type) or an enum's values, as proto text.
  static func describe(_ type: String, _ index: DescriptorIndex) {
    if let e = index.enums[type] {
      print("enum \(type.dropFirst()) {")
      for v in e.value { print("  \(v.name) = \(v.number);") }
      print("}")
      return
    }
    guard let m = index.messages[type] else { return }
    print("message \(type.dropFirst()) {")
    for f in m.field {
      let label = f.label == .repeated ? "repeated " : ""
      let typeName = f.typeName.isEmpty ? Self.scalar(f.type) : String(f.typeName.dropFirst())
      let oneof = f.hasOneofIndex && Int(f.oneofIndex) < m.oneofDecl.count ? "  // oneof \(m.oneofDecl[Int(f.oneofIndex)].name)" : ""
      print("  \(label)\(typeName) \(f.name) = \(f.number);\(oneof)")
    }
    print("}")
  }

  static func scalar(_ t: Google_Protobuf_FieldDescriptorProto.TypeEnum) -> String {
    switch t {
    case .double: "double"
    case .float: "float"
    case .int64: "int64"
    case .uint64: "uint64"
    case .int32: "int32"
    case .fixed64: "fixed64"
    case .fixed32: "fixed32"
    case .bool: "bool"
    case .string: "string"
    case .bytes: "bytes"
    case .uint32: "uint32"
    case .sfixed32: "sfixed32"
    case .sfixed64: "sfixed64"
    case .sint32: "sint32"
    case .sint64: "sint64"
    default: "\(t)"
    }
  }
}

struct HealthCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "health", abstract: "Ask the daemon whether it serves.")
  @OptionGroup var connection: ConnectionOptions

  func run() async throws {
    let resp = try await connection.run { c, o in try await c.health.check(options: o) }
    // NOT_SERVING exits 1 whatever the output form, so that a monitor can rely on the exit code.
    if connection.json {
      print(Output.json(resp))
    } else {
      print(resp.status == .serving ? "SERVING" : "NOT_SERVING")
    }
    if resp.status != .serving { throw ExitCode(Exit.negative) }
  }
}

struct MetricsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "metrics",
    abstract: "Print the daemon's metrics in the Prometheus text format (operators; Metrics/Get).",
    discussion: """
      For node_exporter's textfile collector, from a timer:
        practicectl metrics > /var/lib/node_exporter/practiced.prom.tmp && mv /var/lib/node_exporter/practiced.prom.tmp /var/lib/node_exporter/practiced.prom
      """)
  @OptionGroup var connection: ConnectionOptions

  func run() async throws {
    let resp = try await connection.run { c, o in try await c.metrics.get(options: o) }
    if connection.json { print(Output.json(resp)); return }
    print(resp.text, terminator: "")
  }
}

struct StatusCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status",
    abstract: "The daemon at a glance: version, uptime, socket, database, accounts, connections, watchers, scheduler, health (operators).")
  @OptionGroup var connection: ConnectionOptions

  func run() async throws {
    let socket = connection.socket ?? PracticeConnection.defaultSocketPath
    let (describe, health, metrics) = try await connection.run { c, o in
      (try await c.reflection.describe(options: o), try await c.health.check(options: o), try await c.metrics.get(options: o))
    }
    let status = DaemonStatus(socket: socket, version: describe.serverVersion, serving: health.status == .serving,
                              metrics: PrometheusText(metrics.text), now: Date())
    if connection.json {
      print(status.json)
    } else {
      Output.fields(status.fields)
    }
    if health.status != .serving { throw ExitCode(Exit.negative) }
  }
}

