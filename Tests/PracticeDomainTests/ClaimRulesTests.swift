import PracticeCore
import PracticeDomain
import PracticeProto
import Testing

/// The claim profile's rules (PRODUCT.md, "Claim profile"), on settings built here: every readiness
/// reason alone and all at once, and every omission rule.
@Suite("Claim profile rules")
struct ClaimRulesTests {
  static func address(_ line1: String, _ zip: String, line2: String = "", city: String = "Boston") -> Practice_V1_Address {
    var a = Practice_V1_Address()
    a.line1 = line1
    a.line2 = line2
    a.city = city
    a.state = "MA"
    a.zip = zip
    return a
  }

  /// A group practice that is ready: an ORGANIZATION with its TYPE_2 NPI, an office with its own
  /// address, and a practitioner with an individual NPI.
  static func ready() -> ClaimRules.Settings {
    var account = Practice_V1_Account()
    account.accountID = "acct_1"
    account.practiceName = "Harbor Therapy"
    account.changeSequence = 41
    var b = Practice_V1_BusinessInfo()
    b.accountID = "acct_1"
    b.practiceName = "Harbor Therapy"
    b.legalName = "Harbor Therapy Group LLC"
    b.billingProviderType = .organization
    b.npi = "1234567893"
    b.npiEntityType = .type2
    b.taxonomyCode = "101YM0800X"
    b.taxID = "123456789"
    b.taxIDType = .ein
    b.phone = "6175550100"
    b.address = address("12 Harbor St", "021341234", line2: "Suite 200")
    b.version = 7
    var l = Practice_V1_Location()
    l.locationID = "loc_1"
    l.name = "North End Office"
    l.address = address("300 Hanover St", "021132104")
    l.posCode = "11"
    l.version = 3
    var u = Practice_V1_User()
    u.userID = "user_1"
    u.name = "Jordan Rivera"
    u.roles = [.practitioner]
    u.active = true
    u.npi = "1245319599"
    u.taxonomyCode = "101YP2500X"
    u.version = 2
    return ClaimRules.Settings(account: account, business: b, location: l, rendering: u, payerRule: nil)
  }

  static let visit = ClaimRules.Visit(payerID: "", patientAtHome: false, dateOfService: "2026-03-02")

  static func profile(
    _ edit: (inout ClaimRules.Settings) -> Void = { _ in }, visit: ClaimRules.Visit = visit, full: Bool = false
  ) throws -> Practice_V1_ResolveClaimProfileResponse {
    var s = ready()
    edit(&s)
    return try ClaimRules.profile(s, visit: visit, fullTaxID: full)
  }

  static func problems(_ p: Practice_V1_ResolveClaimProfileResponse) -> [String] {
    p.problems.map { "\($0.reason) \($0.field)" }
  }

  @Test("a ready group practice: every part present, no problem, the versions it was built from")
  func readyProfile() throws {
    let p = try Self.profile()
    #expect(p.ready && p.problems.isEmpty)
    #expect(p.billingProvider.name == "Harbor Therapy Group LLC" && p.billingProvider.type == .organization)
    #expect(p.billingProvider.npi == "1234567893" && p.billingProvider.npiEntityType == .type2)
    #expect(p.billingProvider.taxID == "**-***6789" && p.billingProvider.taxIDMasked && p.billingProvider.taxIDType == .ein)
    #expect(p.billingProvider.address.zip == "021341234" && p.billingProvider.addressIsPhysical)
    #expect(!p.hasPayToAddress)
    #expect(p.renderingProvider.npi == "1245319599" && p.renderingProvider.taxonomyCode == "101YP2500X")
    #expect(p.serviceFacility.name == "North End Office" && p.serviceFacility.address.line1 == "300 Hanover St")
    #expect(p.placeOfService.posCode == "11" && p.placeOfService.decidedBy == .locationCode)
    #expect(p.versions.businessInfoVersion == 7 && p.versions.locationVersion == 3)
    #expect(p.versions.renderingUserVersion == 2 && p.versions.payerPosRuleVersion == 0)
    #expect(p.versions.accountChangeSequence == 41)
    let full = try Self.profile(full: true)
    #expect(full.billingProvider.taxID == "12-3456789" && !full.billingProvider.taxIDMasked)
  }

  /// Each reason, triggered alone: the edit, the problem it must give (reason and field), and nothing else.
  static let alone: [(String, @Sendable (inout ClaimRules.Settings) -> Void, String)] = [
    ("billing NPI", { $0.business.npi = "" }, "NPI_MISSING business_info.npi"),
    ("rendering NPI", { $0.rendering.npi = "" }, "NPI_MISSING user.npi"),
    ("billing taxonomy", { $0.business.taxonomyCode = "" }, "TAXONOMY_MISSING business_info.taxonomy_code"),
    ("rendering taxonomy", { $0.rendering.taxonomyCode = "" }, "TAXONOMY_MISSING user.taxonomy_code"),
    ("tax id", { $0.business.taxID = "" }, "TAX_ID_MISSING business_info.tax_id"),
    ("stated entity type", { $0.business.npiEntityType = .type1 }, "NPI_TYPE_MISMATCH business_info.npi_entity_type"),
    ("no billing-provider type", { $0.business.billingProviderType = .unspecified },
     "NPI_TYPE_MISMATCH business_info.billing_provider_type"),
    ("the organization's NPI as a rendering NPI", { $0.rendering.npi = "1234567893" }, "NPI_TYPE_MISMATCH user.npi"),
    ("PO Box as the physical address billed from", { $0.business.address.line1 = "P.O. Box 55" },
     "PO_BOX_IN_BILLING_ADDRESS business_info.address.line1"),
    ("5-digit billing ZIP", { $0.business.address.zip = "02134" }, "ZIP_PLUS4_REQUIRED business_info.address.zip"),
    ("5-digit separate billing-provider ZIP", {
      $0.business.billingProviderAddress = ClaimRulesTests.address("1 Main St", "02110")
    }, "ZIP_PLUS4_REQUIRED business_info.billing_provider_address.zip"),
    ("5-digit facility ZIP", { $0.location.address.zip = "02113" }, "ZIP_PLUS4_REQUIRED location.address.zip"),
    ("no address at all", { $0.business.address = Practice_V1_Address() }, "ADDRESS_MISSING business_info.address"),
    ("no legal name", { $0.business.legalName = "" }, "LEGAL_NAME_MISSING business_info.legal_name"),
    ("rendering user without PRACTITIONER", { $0.rendering.roles = [.biller] }, "RENDERING_NOT_PRACTITIONER user.roles"),
    ("rendering user deactivated", { $0.rendering.active = false }, "RENDERING_NOT_PRACTITIONER user.active"),
    ("archived location", { $0.location.archived = true }, "LOCATION_ARCHIVED location.archived"),
    ("location code not yet in effect", { $0.location.posCode = "02"; $0.location.telehealth = false },
     "POS_NOT_EFFECTIVE location.pos_code"),
  ]

  @Test("each readiness reason alone: exactly its problem, the profile still returned in full", arguments: 0..<alone.count)
  func eachAlone(_ i: Int) throws {
    let (what, edit, expected) = Self.alone[i]
    let visit = expected.hasPrefix("POS_NOT_EFFECTIVE")
      ? ClaimRules.Visit(payerID: "", patientAtHome: false, dateOfService: "2016-12-31") : Self.visit
    let p = try Self.profile(edit, visit: visit)
    #expect(Self.problems(p) == [expected], "\(what)")
    #expect(!p.ready)
    #expect(p.hasBillingProvider && p.hasPlaceOfService && !p.problems[0].message.isEmpty)
    let subject = p.problems[0]
    switch subject.field.split(separator: ".").first {
    case "business_info": #expect(subject.resourceKind == .businessInfo && subject.resourceID == "acct_1")
    case "user": #expect(subject.resourceKind == .user && subject.resourceID == "user_1")
    case "location": #expect(subject.resourceKind == .location && subject.resourceID == "loc_1")
    default: Issue.record("unexpected field \(subject.field)")
    }
  }

  @Test("telehealth POS not in effect: named on the payer rule that chose it, or on the default")
  func posNotEffective() throws {
    let tele: (inout ClaimRules.Settings) -> Void = { $0.location.telehealth = true; $0.location.posCode = "" }
    // 10 (at home) came into effect in 2022: the default rule chose it.
    var p = try Self.profile(tele, visit: .init(payerID: "", patientAtHome: true, dateOfService: "2021-12-31"))
    #expect(Self.problems(p).contains("POS_NOT_EFFECTIVE payer_pos_rule"))
    #expect(p.placeOfService.posCode == "10" && p.placeOfService.decidedBy == .telehealthDefault)
    var rule = Practice_V1_PayerPosRule()
    rule.payerID = "payer_a"
    rule.homePosCode = "10"
    rule.notHomePosCode = "02"
    rule.version = 4
    p = try Self.profile({ tele(&$0); $0.payerRule = rule },
                         visit: .init(payerID: "payer_a", patientAtHome: true, dateOfService: "2021-12-31"))
    let problem = try #require(p.problems.first { $0.reason == "POS_NOT_EFFECTIVE" })
    #expect(problem.field == "payer_pos_rule.home_pos_code" && problem.resourceKind == .payerPosRule && problem.resourceID == "payer_a")
    #expect(p.placeOfService.decidedBy == .payerRule && p.placeOfService.payerID == "payer_a")
    #expect(p.versions.payerPosRuleVersion == 4)
  }

  @Test("every problem at once, in one response, each (field, reason) once")
  func allAtOnce() throws {
    let p = try Self.profile({ s in
      s.business.legalName = ""
      s.business.npi = ""
      s.business.billingProviderType = .unspecified
      s.business.taxonomyCode = ""
      s.business.taxID = ""
      s.business.address = ClaimRulesTests.address("PO Box 9", "02134")
      s.rendering.npi = ""
      s.rendering.taxonomyCode = ""
      s.rendering.roles = [.scheduler]
      s.location.archived = true
      s.location.posCode = "02"
      s.location.address.zip = "02113"
    }, visit: .init(payerID: "", patientAtHome: false, dateOfService: "2016-12-31"))
    #expect(Set(Self.problems(p)) == [
      "LEGAL_NAME_MISSING business_info.legal_name", "NPI_MISSING business_info.npi",
      "NPI_TYPE_MISMATCH business_info.billing_provider_type", "TAXONOMY_MISSING business_info.taxonomy_code",
      "PO_BOX_IN_BILLING_ADDRESS business_info.address.line1", "ZIP_PLUS4_REQUIRED business_info.address.zip",
      "TAX_ID_MISSING business_info.tax_id", "RENDERING_NOT_PRACTITIONER user.roles", "NPI_MISSING user.npi",
      "TAXONOMY_MISSING user.taxonomy_code", "LOCATION_ARCHIVED location.archived",
      "ZIP_PLUS4_REQUIRED location.address.zip", "POS_NOT_EFFECTIVE location.pos_code",
    ])
    #expect(p.problems.count == 13 && !p.ready)
    // The reasons PRODUCT.md names, every one of them reachable (this test and `eachAlone`).
    let reached = Set(Self.alone.map { String($0.2.split(separator: " ")[0]) })
    #expect(reached == Set(ClaimRules.ProblemReason.allCases.map(\.rawValue)))
  }

  @Test("pay-to: only when it differs from the billing-provider address (case and spacing aside)")
  func payTo() throws {
    var p = try Self.profile { $0.business.payToAddress = ClaimRulesTests.address("PO Box 55", "021340055") }
    #expect(p.payToAddress.line1 == "PO Box 55" && p.ready)
    p = try Self.profile { $0.business.payToAddress = ClaimRulesTests.address("12  HARBOR st", "021341234", line2: "suite 200") }
    #expect(!p.hasPayToAddress && p.ready)
    // Against a separate billing-provider address, not the physical one.
    p = try Self.profile {
      $0.business.billingProviderAddress = ClaimRulesTests.address("1 Main St", "021101111")
      $0.business.payToAddress = ClaimRulesTests.address("1 Main St", "021101111")
    }
    #expect(!p.hasPayToAddress && !p.billingProvider.addressIsPhysical && p.billingProvider.address.line1 == "1 Main St")
  }

  @Test("rendering: omitted when an INDIVIDUAL billing provider is that practitioner; kept for an organization")
  func rendering() throws {
    let solo: (inout ClaimRules.Settings) -> Void = { s in
      s.business.billingProviderType = .individual
      s.business.npiEntityType = .type1
      s.business.npi = "1245319599"
      s.business.legalName = "Jordan Rivera"
    }
    var p = try Self.profile(solo)
    #expect(!p.hasRenderingProvider && p.ready)
    // Another practitioner of a solo practitioner's practice renders: kept.
    p = try Self.profile { solo(&$0); $0.rendering.npi = "1234567893" }
    #expect(p.renderingProvider.npi == "1234567893" && p.ready)
    // An organization: the rendering provider always appears.
    p = try Self.profile()
    #expect(p.renderingProvider.userID == "user_1" && p.renderingProvider.name == "Jordan Rivera")
  }

  @Test("service facility: omitted when it is the billing-provider address; a telehealth visit's is the practice's physical address")
  func facility() throws {
    var p = try Self.profile { $0.location.address = ClaimRulesTests.address("12 Harbor St", "021341234", line2: "Suite 200") }
    #expect(!p.hasServiceFacility && p.ready)
    let tele: (inout ClaimRules.Settings) -> Void = { $0.location.telehealth = true; $0.location.addressPresence = nil }
    // Telehealth billed from the physical address: the facility is that address, so omitted.
    p = try Self.profile(tele)
    #expect(!p.hasServiceFacility && p.ready)
    #expect(p.placeOfService.posCode == "02" && p.placeOfService.decidedBy == .telehealthDefault)
    // Telehealth with a separate billing-provider address: the practice's physical address, by name.
    p = try Self.profile { tele(&$0); $0.business.billingProviderAddress = ClaimRulesTests.address("1 Main St", "021101111") }
    #expect(p.serviceFacility.practiceAddress && p.serviceFacility.name == "Harbor Therapy")
    #expect(p.serviceFacility.address.line1 == "12 Harbor St" && p.ready)
    // Telehealth, and the practice has no physical address: the facility has none.
    p = try Self.profile {
      tele(&$0)
      $0.business.billingProviderAddress = ClaimRulesTests.address("1 Main St", "021101111")
      $0.business.address = Practice_V1_Address()
    }
    #expect(Self.problems(p) == ["ADDRESS_MISSING business_info.address"])
  }

  @Test("a date of service that is not YYYY-MM-DD is refused; an address is the same whatever its case")
  func badInput() throws {
    #expect(throws: DomainError.self) { try Self.profile(visit: .init(payerID: "", patientAtHome: false, dateOfService: "2026-02-30")) }
    #expect(throws: DomainError.self) { try Self.profile(visit: .init(payerID: "", patientAtHome: false, dateOfService: "")) }
    #expect(ClaimRules.sameAddress(Self.address("1 Main St", "02110"), Self.address(" 1 MAIN  st ", "02110")))
    #expect(!ClaimRules.sameAddress(Self.address("1 Main St", "02110"), Self.address("1 Main St", "021101111")))
  }
}
