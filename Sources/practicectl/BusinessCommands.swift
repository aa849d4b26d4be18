import ArgumentParser
import Foundation
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeWire

struct BusinessCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "business", abstract: "Show and change business information; resolve the sender email.",
    subcommands: [Show.self, Set.self, SenderEmail.self])

  static func show(_ b: Practice_V1_BusinessInfo) {
    func address(_ a: Practice_V1_Address) -> String {
      a == Practice_V1_Address() ? "-" : [a.line1, a.line2, a.city, a.state, a.zip].filter { !$0.isEmpty }.joined(separator: ", ")
    }
    Output.fields([
      ("practice_name", b.practiceName), ("legal_name", b.legalName),
      ("billing_provider_type", Names.billingProviderType(b.billingProviderType)),
      ("tax_id", b.taxID.isEmpty ? "-" : b.taxID + (b.taxIDMasked ? " (masked)" : "")),
      ("tax_id_type", Names.taxIDType(b.taxIDType)), ("npi", b.npi.isEmpty ? "-" : b.npi),
      ("npi_entity_type", Names.npiEntityType(b.npiEntityType)), ("taxonomy_code", b.taxonomyCode),
      ("phone", b.phone), ("fax", b.fax), ("email", b.email), ("website", b.website),
      ("address", address(b.address)),
      ("billing_provider_address", b.billingAddressPresence == nil ? "-" : address(b.billingProviderAddress)),
      ("pay_to_address", b.payToAddressPresence == nil ? "-" : address(b.payToAddress)),
      ("version", "\(b.version)"),
    ])
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show an account's business information.", aliases: ["show"])
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Flag(help: "Show the full tax id (administrators; audited).") var fullTaxId = false

    func run() async throws {
      var req = Practice_V1_GetBusinessInfoRequest()
      req.accountID = accountID
      req.fullTaxID = fullTaxId
      let resp = try await connection.run { c, o in try await c.business.getBusinessInfo(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      BusinessCommand.show(resp.businessInfo)
    }
  }

  struct AddressOptions: ParsableArguments {
    @Option(help: "Street line 1.") var line1: String?
    @Option(help: "Street line 2.") var line2: String?
    @Option(help: "City.") var city: String?
    @Option(help: "USPS state code.") var state: String?
    @Option(help: "ZIP (5 or 9 digits).") var zip: String?

    var isEmpty: Bool { [line1, line2, city, state, zip].allSatisfy { $0 == nil } }

    func apply(to a: inout Practice_V1_Address, field: String, mask: inout [String]) {
      if let line1 { a.line1 = line1; mask.append(field + ".line1") }
      if let line2 { a.line2 = line2; mask.append(field + ".line2") }
      if let city { a.city = city; mask.append(field + ".city") }
      if let state { a.state = state; mask.append(field + ".state") }
      if let zip { a.zip = zip; mask.append(field + ".zip") }
    }
  }

  struct Set: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Change business information: each option given is changed, nothing else.",
      discussion: "Addresses: --address-line1 ... for the practice address, --billing-line1 ... for the billing-provider address, --pay-to-line1 ... for the pay-to address; --clear-billing-address and --clear-pay-to-address remove them.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option var practiceName: String?
    @Option var legalName: String?
    @Option(help: "INDIVIDUAL or ORGANIZATION.", completion: .list(["INDIVIDUAL", "ORGANIZATION"])) var billingProviderType: String?
    @Option(help: "The tax id (prefer --tax-id-file: arguments show in ps and shell history).") var taxId: String?
    @Option(help: "Read the tax id from this file, or - for standard input.", completion: .file()) var taxIdFile: String?
    @Option(help: "EIN or SSN.", completion: .list(["EIN", "SSN"])) var taxIdType: String?
    @Option var npi: String?
    @Option(help: "TYPE_1 or TYPE_2.", completion: .list(["TYPE_1", "TYPE_2"])) var npiEntityType: String?
    @Option var taxonomyCode: String?
    @Option var phone: String?
    @Option var fax: String?
    @Option var email: String?
    @Option var website: String?
    @OptionGroup(title: "Practice address") var address: AddressPrefixed
    @OptionGroup(title: "Billing-provider address") var billing: BillingPrefixed
    @OptionGroup(title: "Pay-to address") var payTo: PayToPrefixed
    @Flag var clearBillingAddress = false
    @Flag var clearPayToAddress = false
    @Option(help: "Fail unless at this version (0: unconditional).") var expectedVersion: Int64 = 0

    func run() async throws {
      var req = Practice_V1_UpdateBusinessInfoRequest()
      req.accountID = accountID
      req.expectedVersion = expectedVersion
      var b = Practice_V1_BusinessInfo()
      var mask: [String] = []
      if let v = practiceName { b.practiceName = v; mask.append("practice_name") }
      if let v = legalName { b.legalName = v; mask.append("legal_name") }
      if let v = billingProviderType { b.billingProviderType = try Names.parseBillingProviderType(v); mask.append("billing_provider_type") }
      if let v = taxIdType { b.taxIDType = try Names.parseTaxIDType(v); mask.append("tax_id_type") }
      if taxId != nil && taxIdFile != nil { throw ValidationError("give the tax id once: --tax-id-file or --tax-id") }
      if let v = try taxId ?? taxIdFile.map({ try SecretInput.read($0, what: "--tax-id-file") }) { b.taxID = v; mask.append("tax_id") }
      if let v = npi { b.npi = v; mask.append("npi") }
      if let v = npiEntityType { b.npiEntityType = try Names.parseNPIEntityType(v); mask.append("npi_entity_type") }
      if let v = taxonomyCode { b.taxonomyCode = v; mask.append("taxonomy_code") }
      if let v = phone { b.phone = v; mask.append("phone") }
      if let v = fax { b.fax = v; mask.append("fax") }
      if let v = email { b.email = v; mask.append("email") }
      if let v = website { b.website = v; mask.append("website") }
      address.options.apply(to: &b.address, field: "address", mask: &mask)
      var billingAddress = Practice_V1_Address()
      billing.options.apply(to: &billingAddress, field: "billing_provider_address", mask: &mask)
      if billingAddress != Practice_V1_Address() { b.billingProviderAddress = billingAddress }
      if clearBillingAddress { mask.append("billing_provider_address") }
      var payToAddress = Practice_V1_Address()
      payTo.options.apply(to: &payToAddress, field: "pay_to_address", mask: &mask)
      if payToAddress != Practice_V1_Address() { b.payToAddress = payToAddress }
      if clearPayToAddress { mask.append("pay_to_address") }
      guard !mask.isEmpty else { throw ValidationError("nothing to change: give at least one field option") }
      req.businessInfo = b
      req.updateMask = mask
      let resp = try await connection.run { c, o in try await c.business.updateBusinessInfo(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      BusinessCommand.show(resp.businessInfo)
    }
  }

  struct SenderEmail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "sender-email", abstract: "The email to send a document from, and where it came from.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(help: "The user who started the sending.") var initiator: String?
    @Option(help: "The user who created the bill.") var billCreator: String?
    @Option(help: "A practitioner of the document's session notes; repeat it for several, tried in order.")
    var notePractitioner: [String] = []

    func run() async throws {
      var req = Practice_V1_ResolveSenderEmailRequest()
      req.accountID = accountID
      req.initiatorUserID = initiator ?? ""
      req.billCreatorUserID = billCreator ?? ""
      req.notePractitionerUserIds = notePractitioner
      let resp = try await connection.run { c, o in try await c.business.resolveSenderEmail(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      Output.fields([("email", resp.email), ("source", Names.senderSource(resp.source)),
                     ("user_id", resp.userID.isEmpty ? "-" : resp.userID)])
    }
  }
}

// Address options with their own prefixes (--address-line1, --billing-line1, --pay-to-line1).
struct AddressPrefixed: ParsableArguments {
  @Option(name: .customLong("address-line1")) var line1: String?
  @Option(name: .customLong("address-line2")) var line2: String?
  @Option(name: .customLong("address-city")) var city: String?
  @Option(name: .customLong("address-state")) var state: String?
  @Option(name: .customLong("address-zip")) var zip: String?
  var options: BusinessCommand.AddressOptions { .init(line1: line1, line2: line2, city: city, state: state, zip: zip) }
}
struct BillingPrefixed: ParsableArguments {
  @Option(name: .customLong("billing-line1")) var line1: String?
  @Option(name: .customLong("billing-line2")) var line2: String?
  @Option(name: .customLong("billing-city")) var city: String?
  @Option(name: .customLong("billing-state")) var state: String?
  @Option(name: .customLong("billing-zip")) var zip: String?
  var options: BusinessCommand.AddressOptions { .init(line1: line1, line2: line2, city: city, state: state, zip: zip) }
}
struct PayToPrefixed: ParsableArguments {
  @Option(name: .customLong("pay-to-line1")) var line1: String?
  @Option(name: .customLong("pay-to-line2")) var line2: String?
  @Option(name: .customLong("pay-to-city")) var city: String?
  @Option(name: .customLong("pay-to-state")) var state: String?
  @Option(name: .customLong("pay-to-zip")) var zip: String?
  var options: BusinessCommand.AddressOptions { .init(line1: line1, line2: line2, city: city, state: state, zip: zip) }
}

extension BusinessCommand.AddressOptions {
  init(line1: String?, line2: String?, city: String?, state: String?, zip: String?) {
    self.init()
    self.line1 = line1
    self.line2 = line2
    self.city = city
    self.state = state
    self.zip = zip
  }
}

struct AuditCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "audit", abstract: "Read the audit log.", subcommands: [List.self])

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List audit events, oldest first.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(help: "From this time (Unix ms, inclusive).") var fromMs: Int64 = 0
    @Option(help: "Until this time (Unix ms, exclusive).") var toMs: Int64 = 0
    @Option(help: "Only this acting user.") var actorUser: String?
    @Option(help: "Only this resource id.") var resource: String?
    @Option(help: "Only this method (full path).") var method: String?
    @OptionGroup var paging: PageOptions

    func run() async throws {
      var req = Practice_V1_ListAuditEventsRequest()
      req.accountID = accountID
      req.fromMs = fromMs
      req.toMs = toMs
      req.actorUserID = actorUser ?? ""
      req.resourceID = resource ?? ""
      req.method = method ?? ""
      req.pageSize = paging.pageSize
      req.pageToken = paging.pageToken
      let pages = try await connection.run { c, o in
        try await Output.pages(c.audit.listAuditEventsPages(req, options: o), all: paging.all)
      }
      try Output.list(pages, json: connection.json, token: \.nextPageToken) { pages in
        Output.table(["ID", "TIME", "ACTOR", "PEER", "METHOD", "RESOURCE", "NOTE"], pages.flatMap(\.events).map {
          [String($0.eventID), Output.time($0.timeMs), $0.actorUserID.isEmpty ? "-" : $0.actorUserID,
           "\($0.actorPeer) uid=\($0.peerUid)" + ($0.instanceID.isEmpty ? "" : "@\($0.instanceID)"), String($0.method.split(separator: "/").last ?? ""), $0.resourceID,
           $0.note.isEmpty ? "-" : $0.note]
        })
      }
    }
  }
}

struct WatchCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "watch",
    abstract: "Print change events as they happen, one line each (--json: JSON lines).",
    discussion: "Without an account id (operators only) every account's events are shown. Stops on Ctrl-C.")
  @OptionGroup var connection: ConnectionOptions
  @Argument(help: "The account id (empty: every account).") var accountID: String = ""
  @Option(help: "Replay the kept events after this account change sequence first.") var after: Int64 = 0
  @Option(help: "Only these kinds (repeatable): ACCOUNT, USER, BUSINESS_INFO, LOCATION, ...") var kind: [String] = []

  func run() async throws {
    var req = Practice_V1_WatchRequest()
    req.accountID = accountID
    req.afterSequence = after
    req.kinds = try kind.map(Names.parseKind)
    try await connection.run { c, o in
      for try await event in try c.watch.watch(req, options: o) {
        if connection.json {
          print(Output.json(event))
        } else if case .synced? = event.event {
          print("-- synced: live events follow")
        } else {
          let e = event.change
          print("\(e.sequence)\t\(Output.time(e.timeMs))\t\(e.accountID)\t\(Names.kind(e.kind))\t\(e.resourceID)\tv\(e.version)\t\(Names.changeType(e.changeType))")
        }
        fflush(nil)  // every stream: `stdout` is a C global Swift 6 will not read unchecked
      }
    }
  }
}
