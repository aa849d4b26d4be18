import ArgumentParser
import Foundation
import PracticeClient
import PracticeCore
import PracticeProto

// MARK: - claim

struct ClaimCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "claim", abstract: "What a claim's provider part will say, and whether a payer would take it.",
    subcommands: [Profile.self])

  struct Profile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "The claim profile of a visit, in the order of the CMS-1500's boxes (BILLER or administrators).",
      discussion: """
        Prints boxes 24B (place of service), 24J (rendering provider), 25 (tax id), 32 (service facility) and
        33 (billing provider, with the pay-to address when it differs), then every problem a payer would
        reject, each on its own line with the setting to fix and the command that fixes it.
        Exit status: 0 when the profile is ready, 1 when it has problems (or the daemon refused the call).
        --json prints the ResolveClaimProfileResponse; the exit status is the same.
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(help: "The location the service was rendered at.") var location: String
    @Option(help: "The rendering practitioner's user id.") var practitioner: String
    @Option(help: "The payer id (its POS rule applies to telehealth).") var payer: String = ""
    @Option(help: "Date of service, YYYY-MM-DD (the account's zone).") var date: String
    @Flag(help: "The patient is at home (telehealth).") var atHome = false
    @Flag(help: "Show the tax id in full (BILLER or administrators; audited).") var fullTaxId = false

    func run() async throws {
      var req = Practice_V1_ResolveClaimProfileRequest()
      req.accountID = accountID
      req.locationID = location
      req.renderingUserID = practitioner
      req.payerID = payer
      req.dateOfService = date
      req.patientAtHome = atHome
      req.fullTaxID = fullTaxId
      let resp = try await connection.run { c, o in try await c.claims.resolveClaimProfile(req, options: o) }
      if connection.json {
        print(Output.json(resp))
      } else {
        ClaimCommand.show(resp, account: accountID)
      }
      if !resp.ready { throw ExitCode(Exit.negative) }
    }
  }

  static func address(_ a: Practice_V1_Address) -> String {
    let zip = a.zip.count == 9 ? String(a.zip.prefix(5)) + "-" + String(a.zip.dropFirst(5)) : a.zip
    return [a.line1, a.line2, a.city, "\(a.state) \(zip)"].filter { !$0.isEmpty && $0 != " " }.joined(separator: ", ")
  }

  static func show(_ p: Practice_V1_ResolveClaimProfileResponse, account: String) {
    let b = p.billingProvider
    let pos = p.placeOfService
    let decided = pos.decidedBy == .payerRule ? "PAYER_RULE (\(pos.payerID))" : Names.posDecision(pos.decidedBy)
    var rows: [(String, String)] = [("24B place of service", "\(pos.posCode) \(pos.code.name) (\(decided))")]
    if p.hasRenderingProvider {
      let r = p.renderingProvider
      rows.append(("24J rendering provider", "\(r.name) (\(r.userID))  NPI \(or(r.npi))  taxonomy \(or(r.taxonomyCode))"))
    } else {
      rows.append(("24J rendering provider", "the billing provider (box 33) rendered it"))
    }
    rows.append(("25  federal tax id", b.taxID.isEmpty ? "-" : "\(b.taxID) (\(Names.taxIDType(b.taxIDType)))"))
    if p.hasServiceFacility {
      let f = p.serviceFacility
      let at = f.hasAddress ? address(f.address) : "-"
      rows.append(("32  service facility", "\(f.name): \(at)" + (f.practiceAddress ? " (telehealth: the practice's address)" : "")))
    } else {
      rows.append(("32  service facility", "the billing-provider address (box 33)"))
    }
    rows.append(("33  billing provider", "\(b.name) (\(Names.billingProviderType(b.type)))"))
    rows.append(("33  address", (b.hasAddress ? address(b.address) : "-") + (b.addressIsPhysical ? " (the practice's address)" : "")))
    rows.append(("33  phone", or(b.phone)))
    rows.append(("33a NPI", "\(or(b.npi)) (\(Names.npiEntityType(b.npiEntityType)))"))
    rows.append(("33b taxonomy", or(b.taxonomyCode)))
    rows.append(("pay-to address", p.hasPayToAddress ? address(p.payToAddress) : "the billing-provider address"))
    let v = p.versions
    rows.append(("versions", "business_info \(v.businessInfoVersion), location \(v.locationVersion), user \(v.renderingUserVersion), payer_pos_rule \(v.payerPosRuleVersion), account sequence \(v.accountChangeSequence)"))
    Output.fields(rows)
    print(p.ready ? "ready" : "not ready: \(p.problems.count) problem\(p.problems.count == 1 ? "" : "s")")
    for problem in p.problems {
      print(Output.safe("  \(problem.reason) \(problem.field): \(problem.message); fix: \(fix(problem, account: account))"))
    }
  }

  private static func or(_ s: String) -> String { s.isEmpty ? "-" : s }

  /// The command that changes the setting a problem names.
  static func fix(_ p: Practice_V1_ClaimProblem, account a: String) -> String {
    let id = p.resourceID
    switch p.field {
    case "business_info.legal_name": return "practicectl business set \(a) --legal-name NAME"
    case "business_info.npi": return "practicectl business set \(a) --npi NPI"
    case "business_info.npi_entity_type", "business_info.billing_provider_type":
      return "practicectl business set \(a) --billing-provider-type ORGANIZATION --npi-entity-type TYPE_2 (or INDIVIDUAL and TYPE_1)"
    case "business_info.taxonomy_code": return "practicectl business set \(a) --taxonomy-code CODE"
    case "business_info.tax_id": return "practicectl business set \(a) --tax-id-type EIN --tax-id-file - (the tax id on standard input)"
    case "business_info.address":
      return "practicectl business set \(a) --address-line1 STREET --address-city CITY --address-state ST --address-zip 12345-6789"
    case "business_info.address.line1", "business_info.billing_provider_address.line1":
      return "practicectl business set \(a) --billing-line1 STREET --billing-city CITY --billing-state ST --billing-zip 12345-6789"
    case "business_info.address.zip": return "practicectl business set \(a) --address-zip 12345-6789"
    case "business_info.billing_provider_address.zip": return "practicectl business set \(a) --billing-zip 12345-6789"
    case "user.npi": return "practicectl user update \(a) \(id) --npi NPI"
    case "user.taxonomy_code": return "practicectl user update \(a) \(id) --taxonomy-code CODE"
    case "user.roles": return "practicectl user update \(a) \(id) --role PRACTITIONER (and the user's other roles)"
    case "user.active": return "practicectl user reactivate \(a) \(id)"
    case "location.archived": return "practicectl location unarchive \(a) \(id)"
    case "location.address":
      return "practicectl location update \(a) \(id) --address-line1 STREET --address-city CITY --address-state ST --address-zip 12345-6789"
    case "location.address.zip": return "practicectl location update \(a) \(id) --address-zip 12345-6789"
    case "location.pos_code": return "practicectl location update \(a) \(id) --pos-code CODE"
    default:
      if p.field.hasPrefix("payer_pos_rule") {
        return "practicectl payer-rule set \(a) \(id.isEmpty ? "PAYER" : id) --name NAME --home CODE --not-home CODE"
      }
      return "see docs/CLAIMS.md"
    }
  }
}
