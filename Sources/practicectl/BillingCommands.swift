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
  static func money(_ minor: Int64, _ currency: String) -> String {
    String(format: "%@ %d.%02d", currency, minor / 100, abs(minor % 100))
  }
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
    static let configuration = CommandConfiguration(abstract: "Show the subscription.")
    @OptionGroup var connection: ConnectionOptions
    @Argument var accountID: String
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
    @Argument var accountID: String
    @Argument var plan: String
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
    @Argument var accountID: String
    @Option(help: "The payment processor's token.") var token: String
    @Option var brand: String
    @Option var last4: String
    @Option(help: "YYYY-MM") var expiry: String
    @Option var zip: String
    func run() async throws {
      var req = Practice_V1_SetPaymentMethodRequest()
      req.accountID = accountID
      req.paymentMethod.processorToken = token
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
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
    func run() async throws {
      var req = Practice_V1_ListInvoicesRequest()
      req.accountID = accountID
      req.pageSize = 500
      let resp = try await connection.run { c, o in try await c.billing.listInvoices(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      Output.table(["INVOICE", "NUMBER", "PERIOD", "AMOUNT", "STATUS"], resp.invoices.map {
        [$0.invoiceID, "\($0.number)", "\($0.periodStart)..\($0.periodEnd)", Names.money($0.amountMinor, $0.currency),
         Names.invoiceStatus($0.status)]
      })
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show an invoice.")
    @OptionGroup var connection: ConnectionOptions
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    static let configuration = CommandConfiguration(abstract: "Export every piece of an account's data as JSON to a file with mode 0600 (owner).")
    @OptionGroup var connection: ConnectionOptions
    @Argument var accountID: String
    @Option(help: "The file to write (created with mode 0600; an existing file is refused).") var out: String

    func run() async throws {
      var req = Practice_V1_ExportAccountRequest()
      req.accountID = accountID
      // Merge the chunks into one message and write its JSON.
      let merged: Practice_V1_ExportAccountChunk = try await connection.run { c, o in
        var all = Practice_V1_ExportAccountChunk()
        for try await chunk in try c.accounts.exportAccount(req, options: o) { try all.merge(serializedBytes: chunk.serializedBytes() as [UInt8]) }
        return all
      }
      var options = JSONEncodingOptions()
      options.preserveProtoFieldNames = true
      let json = try merged.jsonString(options: options)
      let fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
      guard fd >= 0 else {
        printError("practicectl: cannot create \(out): \(String(cString: strerror(errno)))")
        throw ExitCode(Exit.usage)
      }
      let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
      handle.write(Data(json.utf8))
      try handle.synchronize()
      let counts = merged.counts.map { "\($0.kind)=\($0.count)" }.joined(separator: " ")
      print("wrote \(out): \(counts)")
    }
  }
}
