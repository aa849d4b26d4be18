import ArgumentParser
import Foundation
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeWire
import SwiftProtobuf

extension Names {
  static func plan(_ p: Practice_V1_Plan) -> String {
    switch p { case .trial: "TRIAL"; case .freemium: "FREEMIUM"; case .professional: "PROFESSIONAL"; default: "-" }
  }
  static func parsePlan(_ s: String) throws -> Practice_V1_Plan {
    switch s.uppercased() {
    case "FREEMIUM", "PLAN_FREEMIUM": return .freemium
    case "PROFESSIONAL", "PLAN_PROFESSIONAL": return .professional
    case "TRIAL", "PLAN_TRIAL": return .trial
    default: throw ValidationError("plan must be FREEMIUM or PROFESSIONAL")
    }
  }
  static func invoiceStatus(_ s: Practice_V1_InvoiceStatus) -> String {
    switch s { case .open: "OPEN"; case .paid: "PAID"; case .failed: "FAILED"; case .void: "VOID"; default: "-" }
  }
  /// An amount in minor units, in the currency's own number of decimals (ISO 4217: JPY has none, KWD
  /// three), with the sign right for amounts between -1 and 0.
  static func money(_ minor: Int64, _ currency: String) -> String {
    let decimals = currencyDecimals[currency.uppercased()] ?? 2
    let sign = minor < 0 ? "-" : ""
    let magnitude = minor.magnitude
    guard decimals > 0 else { return "\(currency) \(sign)\(magnitude)" }
    var unit: UInt64 = 1
    for _ in 0..<decimals { unit *= 10 }
    let fraction = String(magnitude % unit)
    return "\(currency) \(sign)\(magnitude / unit).\(String(repeating: "0", count: decimals - fraction.count))\(fraction)"
  }

  /// ISO 4217 currencies whose minor unit is not a hundredth.
  static let currencyDecimals: [String: Int] = [
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0,
    "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3, "CLF": 4, "UYW": 4,
  ]
}

struct BillingCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "billing", abstract: "Subscription, card on file, usage and payments.",
    subcommands: [Show.self, Plan.self, SetCard.self, RemoveCard.self, Usage.self, Preview.self, Pay.self, Archive.self, TaxForms.self])

  static func show(_ s: Practice_V1_Subscription) {
    let card = s.paymentMethodPresence == nil ? "-" : "\(s.paymentMethod.brand) ****\(s.paymentMethod.last4) exp \(s.paymentMethod.expiry)"
    Output.fields([
      ("plan", Names.plan(s.plan)), ("trial_ends_at", s.plan == .trial ? Output.time(s.trialEndsAtMs) : "-"),
      ("period", "\(s.periodStart) .. \(s.periodEnd)"), ("chargeable", "\(s.chargeable ? "yes" : "no") (\(s.chargeableReason))"),
      ("card", card), ("archive_subscription", s.archiveSubscription ? "active" : "no"),
      ("grace_ends_at", Output.time(s.graceEndsAtMs)), ("version", "\(s.version)"),
    ])
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show the subscription.", aliases: ["show"])
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    func run() async throws {
      var req = Practice_V1_GetSubscriptionRequest()
      req.accountID = accountID
      let resp = try await connection.run { c, o in try await c.billing.getSubscription(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      BillingCommand.show(resp.subscription)
    }
  }

  struct Plan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Change the plan: FREEMIUM or PROFESSIONAL.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument(help: "FREEMIUM or PROFESSIONAL.", completion: .list(["FREEMIUM", "PROFESSIONAL"])) var plan: String
    func run() async throws {
      var req = Practice_V1_ChangePlanRequest()
      req.accountID = accountID
      req.plan = try Names.parsePlan(plan)
      let resp = try await connection.run { c, o in try await c.billing.changePlan(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      BillingCommand.show(resp.subscription)
    }
  }

  struct SetCard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set-card", abstract: "Put the processor's token for a card on file (never a card number).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(help: "The payment processor's token (prefer --token-file: arguments show in ps and shell history).") var token: String?
    @Option(help: "Read the token from this file, or - for standard input.", completion: .file()) var tokenFile: String?
    @Option var brand: String
    @Option var last4: String
    @Option(help: "YYYY-MM") var expiry: String
    @Option var zip: String

    func validate() throws {
      if (token == nil) == (tokenFile == nil) { throw ValidationError("give the token with --token-file (or --token)") }
    }

    func run() async throws {
      var req = Practice_V1_SetPaymentMethodRequest()
      req.accountID = accountID
      req.paymentMethod.processorToken = try token ?? SecretInput.read(tokenFile!, what: "--token-file")
      req.paymentMethod.brand = brand
      req.paymentMethod.last4 = last4
      req.paymentMethod.expiry = expiry
      req.paymentMethod.billingZip = zip
      let resp = try await connection.run { c, o in try await c.billing.setPaymentMethod(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      BillingCommand.show(resp.subscription)
    }
  }

  struct RemoveCard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove-card", abstract: "Remove the card on file (refused while the plan needs one).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    func run() async throws {
      var req = Practice_V1_RemovePaymentMethodRequest()
      req.accountID = accountID
      let resp = try await connection.run { c, o in try await c.billing.removePaymentMethod(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      BillingCommand.show(resp.subscription)
    }
  }

  struct Usage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Report a period's usage (operators; absolute counts, the maximum is kept).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(help: "The period's first day, YYYY-MM-DD.") var period: String
    @Option var activeClients: Int64
    @Option var electronicClaims: Int64 = 0
    func run() async throws {
      var req = Practice_V1_ReportUsageRequest()
      req.accountID = accountID
      req.periodStart = period
      req.activeClients = activeClients
      req.electronicClaims = electronicClaims
      let resp = try await connection.run { c, o in try await c.billing.reportUsage(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      Output.fields([("active_clients", "\(resp.activeClients)"), ("electronic_claims", "\(resp.electronicClaims)")])
    }
  }

  struct Preview: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The current period's invoice as it stands.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    func run() async throws {
      var req = Practice_V1_PreviewInvoiceRequest()
      req.accountID = accountID
      let resp = try await connection.run { c, o in try await c.billing.previewInvoice(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      InvoiceCommand.show(resp.invoice)
    }
  }

  struct Pay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "record-payment", abstract: "Record a payment result (operators).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var invoiceID: String
    @Flag(help: "The payment failed.") var failed = false
    @Option(help: "The processor's reference.") var reference: String
    func run() async throws {
      var req = Practice_V1_RecordPaymentRequest()
      req.accountID = accountID
      req.invoiceID = invoiceID
      req.paid = !failed
      req.processorReference = reference
      let resp = try await connection.run { c, o in try await c.billing.recordPayment(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      InvoiceCommand.show(resp.invoice)
    }
  }

  struct Archive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start or stop the archive storage subscription (keeps a closed account's data).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument(help: "on or off") var state: String
    func run() async throws {
      guard ["on", "off"].contains(state) else { throw ValidationError("on or off") }
      var req = Practice_V1_SetArchiveSubscriptionRequest()
      req.accountID = accountID
      req.active = state == "on"
      let resp = try await connection.run { c, o in try await c.billing.setArchiveSubscription(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      BillingCommand.show(resp.subscription)
    }
  }

  struct TaxForms: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tax-forms", abstract: "Where 1099 forms come from.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    func run() async throws {
      var req = Practice_V1_GetTaxFormInfoRequest()
      req.accountID = accountID
      let resp = try await connection.run { c, o in try await c.billing.getTaxFormInfo(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      print(resp.explanation)
    }
  }
}

struct InvoiceCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "invoice", abstract: "Invoices.", subcommands: [List.self, Show.self, VoidInvoice.self])

  static func show(_ i: Practice_V1_Invoice) {
    Output.fields([
      ("invoice_id", i.invoiceID.isEmpty ? "(preview)" : i.invoiceID), ("number", "\(i.number)"),
      ("period", "\(i.periodStart) .. \(i.periodEnd)"), ("amount", Names.money(i.amountMinor, i.currency)),
      ("status", Names.invoiceStatus(i.status)), ("issued_at", Output.time(i.issuedAtMs)),
      ("payment_reference", i.paymentReference.isEmpty ? "-" : i.paymentReference),
    ] + (i.voidReason.isEmpty ? [] : [("void_reason", i.voidReason)]))
    for line in i.lines { print("  \(line.description_p): \(Names.money(line.amountMinor, i.currency))") }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List invoices, newest first.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @OptionGroup var paging: PageOptions

    func run() async throws {
      var req = Practice_V1_ListInvoicesRequest()
      req.accountID = accountID
      req.pageSize = paging.pageSize
      req.pageToken = paging.pageToken
      let pages = try await connection.run { c, o in
        try await Output.pages(c.billing.listInvoicesPages(req, options: o), all: paging.all)
      }
      try Output.list(pages, json: connection.json, token: \.nextPageToken) { pages in
        Output.table(["INVOICE", "NUMBER", "PERIOD", "AMOUNT", "STATUS"], pages.flatMap(\.invoices).map {
          [$0.invoiceID, "\($0.number)", "\($0.periodStart)..\($0.periodEnd)", Names.money($0.amountMinor, $0.currency),
           Names.invoiceStatus($0.status)]
        })
      }
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show an invoice.", aliases: ["show"])
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var invoiceID: String
    func run() async throws {
      var req = Practice_V1_GetInvoiceRequest()
      req.accountID = accountID
      req.invoiceID = invoiceID
      let resp = try await connection.run { c, o in try await c.billing.getInvoice(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      InvoiceCommand.show(resp.invoice)
    }
  }

  struct VoidInvoice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "void", abstract: "Void an OPEN or FAILED invoice, with a reason (operators).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var invoiceID: String
    @Option(help: "Why the invoice is voided (kept in the invoice and the audit log).") var reason: String
    func run() async throws {
      var req = Practice_V1_VoidInvoiceRequest()
      req.accountID = accountID
      req.invoiceID = invoiceID
      req.reason = reason
      let resp = try await connection.run { c, o in try await c.billing.voidInvoice(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      InvoiceCommand.show(resp.invoice)
    }
  }
}

extension AccountCommand {
  struct Close: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Close an account (owner). Asks for the practice name unless --confirm is given.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(help: "The practice name, typed back.") var confirm: String?

    func run() async throws {
      var name = confirm
      if name == nil {
        FileHandle.standardError.write(Data("Type the practice name to close account \(accountID): ".utf8))
        name = readLine(strippingNewline: true)
      }
      guard let name, !name.isEmpty else { throw ValidationError("the practice name is required to close the account") }
      var req = Practice_V1_CloseAccountRequest()
      req.accountID = accountID
      req.confirmPracticeName = name
      let resp = try await connection.run { c, o in try await c.accounts.closeAccount(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      AccountCommand.show(resp.account)
    }
  }

  struct Reopen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reopen a closed account within its retention period (owner).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    func run() async throws {
      var req = Practice_V1_ReopenAccountRequest()
      req.accountID = accountID
      let resp = try await connection.run { c, o in try await c.accounts.reopenAccount(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      AccountCommand.show(resp.account)
    }
  }

  struct TransferOwner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "transfer-owner", abstract: "Make another active user the owner (owner).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var newOwnerUserID: String
    func run() async throws {
      var req = Practice_V1_TransferOwnershipRequest()
      req.accountID = accountID
      req.newOwnerUserID = newOwnerUserID
      let resp = try await connection.run { c, o in try await c.accounts.transferOwnership(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      AccountCommand.show(resp.account)
    }
  }

  struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Export every piece of an account's data as JSON (owner), streamed as it arrives.",
      discussion: """
        --out FILE creates FILE with mode 0600 (an existing file is refused, before anything is asked of the
        daemon; a failed export removes it); --out - writes to standard output, to pipe into gzip or gpg.
        The JSON is ExportAccountChunk's fields, every chunk's items in one document, defaults included.
        On a terminal, progress goes to standard error.
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(help: "The file to write (mode 0600; an existing file is refused), or - for standard output.", completion: .file()) var out: String

    func run() async throws {
      var req = Practice_V1_ExportAccountRequest()
      req.accountID = accountID
      let toStdout = out == "-"
      let handle: FileHandle
      if toStdout {
        handle = .standardOutput
      } else {
        let fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
          printError("practicectl: cannot create \(out): \(String(cString: strerror(errno)))")
          throw ExitCode(Exit.usage)
        }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
      }
      let progress = isatty(STDERR_FILENO) == 1
      var writer = ExportWriter(handle)
      do {
        let counts: [Practice_V1_ExportCount] = try await connection.run { c, o in
          var counts: [Practice_V1_ExportCount] = []
          for try await chunk in try c.accounts.exportAccount(req, options: o) {
            try writer.write(chunk)
            if !chunk.counts.isEmpty { counts = chunk.counts }
            if progress { FileHandle.standardError.write(Data("\rexported \(writer.items) items, \(writer.bytes / 1024) KiB".utf8)) }
          }
          try writer.finish()
          return counts
        }
        if progress { FileHandle.standardError.write(Data("\n".utf8)) }
        let summary = counts.map { "\($0.kind)=\($0.count)" }.joined(separator: " ")
        if toStdout {
          printError("exported: \(summary)")
        } else {
          try handle.synchronize()
          print("wrote \(out): \(summary)")
        }
      } catch {
        // A partial export is not an export.
        if !toStdout { unlink(out) }
        throw error
      }
    }
  }

  /// Writes an export's chunks as one JSON document as they arrive, so that memory stays bounded by a
  /// chunk: the daemon sends each kind of item contiguously, in the order below (Export.stream).
  struct ExportWriter {
    private enum Part: Sendable {
      case single(String, @Sendable (Practice_V1_ExportAccountChunk) -> (any SwiftProtobuf.Message)?)
      case many(String, @Sendable (Practice_V1_ExportAccountChunk) -> [any SwiftProtobuf.Message])
    }
    private static let parts: [Part] = [
      .single("account") { $0.hasAccount ? $0.account : nil }, .many("users") { $0.users },
      .single("businessInfo") { $0.hasBusinessInfo ? $0.businessInfo : nil }, .many("locations") { $0.locations },
      .many("payerPosRules") { $0.payerPosRules }, .many("rooms") { $0.rooms }, .many("bookings") { $0.bookings },
      .single("subscription") { $0.hasSubscription ? $0.subscription : nil }, .many("usageReports") { $0.usageReports },
      .many("invoices") { $0.invoices }, .many("auditEvents") { $0.auditEvents }, .many("counts") { $0.counts },
    ]

    private let handle: FileHandle
    private var buffer = Data()
    private var written: Set<String> = []
    private var openArray: String?
    private var firstInArray = true
    private(set) var items = 0
    private(set) var bytes = 0

    init(_ handle: FileHandle) { self.handle = handle }

    mutating func write(_ chunk: Practice_V1_ExportAccountChunk) throws {
      for part in Self.parts {
        switch part {
        case .single(let key, let get):
          guard let m = get(chunk) else { continue }
          try startKey(key)
          emit(try FullJSON.string(m))
          items += 1
        case .many(let key, let get):
          let list = get(chunk)
          guard !list.isEmpty else { continue }
          if openArray != key {
            try startKey(key)
            emit("[")
            openArray = key
            firstInArray = true
          }
          for m in list {
            if !firstInArray { emit(",") }
            emit(try FullJSON.string(m))
            firstInArray = false
            items += 1
          }
        }
      }
      if buffer.count >= 64 * 1024 { flush() }
    }

    /// Closes the document; kinds the export had none of are written as empty lists.
    mutating func finish() throws {
      closeArray()
      for case .many(let key, _) in Self.parts where !written.contains(key) {
        try startKey(key)
        emit("[]")
      }
      emit(written.isEmpty ? "{}\n" : "}\n")
      flush()
    }

    private mutating func startKey(_ key: String) throws {
      closeArray()
      guard !written.contains(key) else {
        throw ValidationError("the export sent \(key) twice, apart: not the protocol's export")
      }
      emit(written.isEmpty ? "{" : ",")
      written.insert(key)
      emit("\"\(key)\":")
    }

    private mutating func closeArray() {
      if openArray != nil { emit("]") }
      openArray = nil
    }

    private mutating func emit(_ s: String) {
      buffer.append(contentsOf: s.utf8)
      bytes += s.utf8.count
    }

    private mutating func flush() {
      handle.write(buffer)
      buffer.removeAll(keepingCapacity: true)
    }
  }

}
