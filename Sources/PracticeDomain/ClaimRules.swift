import PracticeCore
import PracticeProto

/// The provider block of a professional claim, from the settings (PRODUCT.md, "Claim profile"):
/// what goes in CMS-1500 boxes 24B, 24J, 25, 32 and 33 (X12 837P loops 2010AA, 2010AB, 2310B, 2310C),
/// and every reason a payer would reject it, each naming the setting that fixes it.
public enum ClaimRules {
  /// Why a profile is not ready. Not statuses: a profile that is not ready is still an OK answer.
  public enum ProblemReason: String, Sendable, CaseIterable {
    case npiMissing = "NPI_MISSING"
    case taxonomyMissing = "TAXONOMY_MISSING"
    case taxIDMissing = "TAX_ID_MISSING"
    case npiTypeMismatch = "NPI_TYPE_MISMATCH"
    case poBoxInBillingAddress = "PO_BOX_IN_BILLING_ADDRESS"
    case zipPlus4Required = "ZIP_PLUS4_REQUIRED"
    case addressMissing = "ADDRESS_MISSING"
    case legalNameMissing = "LEGAL_NAME_MISSING"
    case renderingNotPractitioner = "RENDERING_NOT_PRACTITIONER"
    case locationArchived = "LOCATION_ARCHIVED"
    case posNotEffective = "POS_NOT_EFFECTIVE"
  }

  /// The settings a profile is built from, all read in one snapshot.
  public struct Settings: Sendable {
    public var account: Practice_V1_Account
    /// As stored: `tax_id` holds the digits.
    public var business: Practice_V1_BusinessInfo
    public var location: Practice_V1_Location
    public var rendering: Practice_V1_User
    /// The payer's POS rule, when a payer was named and the location is telehealth.
    public var payerRule: Practice_V1_PayerPosRule?

    public init(
      account: Practice_V1_Account, business: Practice_V1_BusinessInfo, location: Practice_V1_Location,
      rendering: Practice_V1_User, payerRule: Practice_V1_PayerPosRule?
    ) {
      self.account = account
      self.business = business
      self.location = location
      self.rendering = rendering
      self.payerRule = payerRule
    }
  }

  /// The visit the claim is for.
  public struct Visit: Sendable {
    public var payerID: String
    public var patientAtHome: Bool
    public var dateOfService: String

    public init(payerID: String, patientAtHome: Bool, dateOfService: String) {
      self.payerID = payerID
      self.patientAtHome = patientAtHome
      self.dateOfService = dateOfService
    }
  }

  /// The profile: every part, every problem at once, and the versions it was built from. Throws only
  /// for a date that is not `YYYY-MM-DD` (and stored data no rule accepts).
  public static func profile(
    _ s: Settings, visit: Visit, fullTaxID: Bool
  ) throws(DomainError) -> Practice_V1_ResolveClaimProfileResponse {
    try PlaceOfService.checkDate(visit.dateOfService)
    var problems = Problems()
    var resp = Practice_V1_ResolveClaimProfileResponse()

    let billing = billingProvider(s, fullTaxID: fullTaxID, into: &problems)
    resp.billingProvider = billing.provider
    let billingAddress = billing.address

    if case .payToAddress(let payTo)? = s.business.payToAddressPresence,
      billingAddress.map({ !sameAddress($0, payTo) }) ?? true
    {
      resp.payToAddress = payTo
    }
    if let rendering = renderingProvider(s, into: &problems) { resp.renderingProvider = rendering }
    if let facility = serviceFacility(s, billingAddress: billingAddress, into: &problems) {
      resp.serviceFacility = facility
    }
    resp.placeOfService = try placeOfService(s, visit: visit, into: &problems)

    resp.problems = problems.list
    resp.ready = problems.list.isEmpty
    resp.versions.businessInfoVersion = s.business.version
    resp.versions.locationVersion = s.location.version
    resp.versions.renderingUserVersion = s.rendering.version
    resp.versions.payerPosRuleVersion = s.payerRule?.version ?? 0
    resp.versions.accountChangeSequence = s.account.changeSequence
    return resp
  }

  /// Box 33 / 2010AA and box 25; the address the billing provider is at (nil when there is none).
  private static func billingProvider(
    _ s: Settings, fullTaxID: Bool, into problems: inout Problems
  ) -> (provider: Practice_V1_ClaimBillingProvider, address: Practice_V1_Address?) {
    let b = s.business
    let on = Subject(kind: .businessInfo, id: s.account.accountID)
    var p = Practice_V1_ClaimBillingProvider()
    p.type = b.billingProviderType
    p.name = b.legalName.isEmpty ? b.practiceName : b.legalName
    if b.legalName.isEmpty {
      problems.add("business_info.legal_name", .legalNameMissing,
                   "the billing provider's name on a claim is its legal name as registered in NPPES; none is set", on)
    }
    p.npi = b.npi
    p.npiEntityType = b.npiEntityType
    if b.npi.isEmpty {
      problems.add("business_info.npi", .npiMissing, "the billing provider has no NPI", on)
    }
    switch (b.billingProviderType, b.npiEntityType) {
    case (.individual, .type1), (.organization, .type2): break
    case (.individual, _), (.organization, _):
      if !b.npi.isEmpty {
        problems.add("business_info.npi_entity_type", .npiTypeMismatch,
                     "an \(b.billingProviderType == .individual ? "INDIVIDUAL billing provider needs a TYPE_1" : "ORGANIZATION billing provider needs a TYPE_2") NPI",
                     on)
      }
    default:
      problems.add("business_info.billing_provider_type", .npiTypeMismatch,
                   "the billing-provider type (INDIVIDUAL or ORGANIZATION, as the NPI's entity type) is not set", on)
    }
    p.taxonomyCode = b.taxonomyCode
    if b.taxonomyCode.isEmpty {
      problems.add("business_info.taxonomy_code", .taxonomyMissing, "the billing provider has no taxonomy code", on)
    }
    p.phone = b.phone

    var address: Practice_V1_Address?
    var field = "business_info.address"
    if case .billingProviderAddress(let a)? = b.billingAddressPresence {
      address = a
      field = "business_info.billing_provider_address"
    } else if b.address != Practice_V1_Address() {
      address = b.address
      p.addressIsPhysical = true
    }
    if let address {
      p.address = address
      if Identifiers.isPOBox(address.line1) || Identifiers.isPOBox(address.line2) {
        problems.add(field + ".line1", .poBoxInBillingAddress,
                     "the billing-provider address is a PO Box: set a street address as billing_provider_address (a PO Box belongs in the pay-to address)",
                     on)
      }
      if address.zip.count != 9 {
        problems.add(field + ".zip", .zipPlus4Required, "the billing-provider ZIP must have 9 digits (ZIP+4)", on)
      }
    } else {
      problems.add("business_info.address", .addressMissing, "the practice has no physical or billing-provider address", on)
    }

    p.taxIDType = b.taxIDType
    if b.taxID.isEmpty {
      problems.add("business_info.tax_id", .taxIDMissing, "the billing provider has no tax id (EIN or SSN)", on)
    } else if fullTaxID {
      p.taxID = Identifiers.displayTaxID(b.taxID, type: b.taxIDType)
    } else {
      p.taxID = Identifiers.maskTaxID(b.taxID, type: b.taxIDType)
      p.taxIDMasked = true
    }
    return (p, address)
  }

  /// Box 24J / 2310B: nil when the billing provider is this same individual (an INDIVIDUAL billing
  /// provider whose NPI is the practitioner's).
  private static func renderingProvider(_ s: Settings, into problems: inout Problems) -> Practice_V1_ClaimRenderingProvider? {
    let u = s.rendering
    let on = Subject(kind: .user, id: u.userID)
    if !u.active {
      problems.add("user.active", .renderingNotPractitioner, "the rendering user \(u.userID) is deactivated", on)
    } else if !u.roleSet.contains(.practitioner) {
      problems.add("user.roles", .renderingNotPractitioner, "the rendering user \(u.userID) is not a PRACTITIONER", on)
    }
    let b = s.business
    if b.billingProviderType == .individual && !b.npi.isEmpty && u.npi == b.npi { return nil }
    var r = Practice_V1_ClaimRenderingProvider()
    r.userID = u.userID
    r.name = u.name
    r.npi = u.npi
    r.taxonomyCode = u.taxonomyCode
    if u.npi.isEmpty {
      problems.add("user.npi", .npiMissing, "the rendering practitioner \(u.userID) has no individual NPI", on)
    } else if u.npi == b.npi {
      problems.add("user.npi", .npiTypeMismatch,
                   "the rendering practitioner's NPI is the organization's (TYPE_2); a rendering provider needs an individual (TYPE_1) NPI",
                   on)
    }
    if u.taxonomyCode.isEmpty {
      problems.add("user.taxonomy_code", .taxonomyMissing, "the rendering practitioner \(u.userID) has no taxonomy code", on)
    }
    return r
  }

  /// Box 32 / 2310C: the location, or for a telehealth location the practice's own physical address;
  /// nil when that is the billing-provider address.
  private static func serviceFacility(
    _ s: Settings, billingAddress: Practice_V1_Address?, into problems: inout Problems
  ) -> Practice_V1_ClaimServiceFacility? {
    let l = s.location
    let locationSubject = Subject(kind: .location, id: l.locationID)
    if l.archived {
      problems.add("location.archived", .locationArchived, "the location \(l.locationID) is archived", locationSubject)
    }
    var f = Practice_V1_ClaimServiceFacility()
    f.locationID = l.locationID
    let address: Practice_V1_Address?
    let field: String
    let on: Subject
    if l.telehealth {
      f.name = s.business.practiceName
      f.practiceAddress = true
      address = s.business.address == Practice_V1_Address() ? nil : s.business.address
      field = "business_info.address"
      on = Subject(kind: .businessInfo, id: s.account.accountID)
    } else {
      f.name = l.name
      if case .address(let a)? = l.addressPresence { address = a } else { address = nil }
      field = "location.address"
      on = locationSubject
    }
    guard let address else {
      problems.add(field, .addressMissing,
                   l.telehealth ? "a telehealth visit's service facility is the practice's physical address; none is set"
                     : "the location \(l.locationID) has no address", on)
      return f
    }
    if let billingAddress, sameAddress(billingAddress, address) { return nil }
    f.address = address
    if address.zip.count != 9 {
      problems.add(field + ".zip", .zipPlus4Required, "the service-facility ZIP must have 9 digits (ZIP+4)", on)
    }
    return f
  }

  /// Box 24B: as `ResolvePlaceOfService`, but a code not in effect is a problem, not a refusal.
  private static func placeOfService(
    _ s: Settings, visit: Visit, into problems: inout Problems
  ) throws(DomainError) -> Practice_V1_ResolvePlaceOfServiceResponse {
    let (code, decidedBy) = try PlaceOfService.decide(
      location: s.location, payerRule: s.payerRule, patientAtHome: visit.patientAtHome)
    var pos = Practice_V1_ResolvePlaceOfServiceResponse()
    pos.posCode = code.code
    pos.decidedBy = decidedBy
    pos.payerID = s.payerRule?.payerID ?? ""
    pos.code = code.proto
    if let problem = PlaceOfService.notInEffect(code, on: visit.dateOfService) {
      switch decidedBy {
      case .payerRule:
        problems.add("payer_pos_rule." + (visit.patientAtHome ? "home_pos_code" : "not_home_pos_code"), .posNotEffective,
                     problem, Subject(kind: .payerPosRule, id: pos.payerID))
      case .telehealthDefault:
        problems.add("payer_pos_rule", .posNotEffective, problem + "; a payer rule can name another code",
                     Subject(kind: .payerPosRule, id: visit.payerID))
      default:
        problems.add("location.pos_code", .posNotEffective, problem, Subject(kind: .location, id: s.location.locationID))
      }
    }
    return pos
  }

  /// Whether two addresses are the same place as a claim prints it: the lines, city and state
  /// compared without case and with runs of spaces as one, the ZIP digit for digit.
  public static func sameAddress(_ a: Practice_V1_Address, _ b: Practice_V1_Address) -> Bool {
    func norm(_ s: String) -> String {
      s.uppercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
    return norm(a.line1) == norm(b.line1) && norm(a.line2) == norm(b.line2) && norm(a.city) == norm(b.city)
      && norm(a.state) == norm(b.state) && a.zip == b.zip
  }

  private struct Subject {
    let kind: Practice_V1_ResourceKind
    let id: String
  }

  /// The problems found, in the order found, each (field, reason) once.
  private struct Problems {
    var list: [Practice_V1_ClaimProblem] = []

    mutating func add(_ field: String, _ reason: ProblemReason, _ message: String, _ subject: Subject) {
      guard !list.contains(where: { $0.field == field && $0.reason == reason.rawValue }) else { return }
      var p = Practice_V1_ClaimProblem()
      p.field = field
      p.reason = reason.rawValue
      p.message = message
      p.resourceKind = subject.kind
      p.resourceID = subject.id
      list.append(p)
    }
  }
}
