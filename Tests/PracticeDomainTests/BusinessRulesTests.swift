import PracticeCore
import PracticeDomain
import PracticeProto
import Testing

@Suite("Identifiers")
struct IdentifierTests {
  @Test("NPI: 80840-prefixed Luhn, 10 digits, first digit 1 or 2")
  func npi() {
    #expect(Identifiers.isValidNPI("1234567893"))
    #expect(!Identifiers.isValidNPI("1093791627"))
    #expect(Identifiers.isValidNPI("1245319599"))  // a published NPPES example
    #expect(!Identifiers.isValidNPI("3234567893"))  // first digit
    #expect(!Identifiers.isValidNPI("123456789"))
    #expect(!Identifiers.isValidNPI("12345678931"))
    #expect(!Identifiers.isValidNPI("12345678a3"))
    #expect(!Identifiers.isValidNPI(""))
  }

  @Test("Luhn")
  func luhn() {
    #expect(Identifiers.luhnValid("4111111111111111"))
    #expect(!Identifiers.luhnValid("4111111111111112"))
    #expect(!Identifiers.luhnValid(""))
  }

  @Test("tax ids: 9 digits, or the type's own format")
  func taxIDs() {
    #expect(Identifiers.normalizeTaxID("123456789", type: .ein) == "123456789")
    #expect(Identifiers.normalizeTaxID("12-3456789", type: .ein) == "123456789")
    #expect(Identifiers.normalizeTaxID("123-45-6789", type: .ssn) == "123456789")
    #expect(Identifiers.normalizeTaxID("123-45-6789", type: .ein) == nil)
    #expect(Identifiers.normalizeTaxID("12-3456789", type: .ssn) == nil)
    #expect(Identifiers.normalizeTaxID("12345678", type: .ein) == nil)
    #expect(Identifiers.normalizeTaxID("1234567890", type: .ein) == nil)
    #expect(Identifiers.displayTaxID("123456789", type: .ein) == "12-3456789")
    #expect(Identifiers.displayTaxID("123456789", type: .ssn) == "123-45-6789")
    #expect(Identifiers.maskTaxID("123456789", type: .ein) == "**-***6789")
    #expect(Identifiers.maskTaxID("123456789", type: .ssn) == "***-**-6789")
  }

  @Test("taxonomy codes", arguments: [("101YM0800X", true), ("2084P0800X", true), ("101ym0800X", false),
                                      ("101YM0800", false), ("101YM0800Y", false), ("A01YM0800X", false)])
  func taxonomy(_ code: String, _ valid: Bool) { #expect(Identifiers.isValidTaxonomy(code) == valid) }

  @Test("phones: NANP to 10 digits, E.164 kept")
  func phones() {
    #expect(Identifiers.normalizePhone("212-555-0100") == "2125550100")
    #expect(Identifiers.normalizePhone("(212) 555-0100") == "2125550100")
    #expect(Identifiers.normalizePhone("+1 212 555 0100") == "2125550100")
    #expect(Identifiers.normalizePhone("2125550100") == "2125550100")
    #expect(Identifiers.normalizePhone("112-555-0100") == nil)  // area code starts with 1
    #expect(Identifiers.normalizePhone("212-155-0100") == nil)  // exchange starts with 1
    #expect(Identifiers.normalizePhone("555-0100") == nil)
    #expect(Identifiers.normalizePhone("+44 20 7946 0958") == "+442079460958")
    #expect(Identifiers.normalizePhone("+4412") == nil)
    #expect(Identifiers.normalizePhone("212-555-0100 x12") == nil)
  }

  @Test("ZIP codes and states")
  func zips() {
    #expect(Identifiers.normalizeZIP("02134") == "02134")
    #expect(Identifiers.normalizeZIP("02134-1234") == "021341234")
    #expect(Identifiers.normalizeZIP("021341234") == "021341234")
    #expect(Identifiers.normalizeZIP("1234") == nil)
    #expect(Identifiers.normalizeZIP("0213-41234") == nil)
    #expect(Identifiers.normalizeZIP("ABCDE") == nil)
    #expect(Identifiers.uspsStates.contains("NY") && Identifiers.uspsStates.contains("PR"))
    #expect(!Identifiers.uspsStates.contains("ny") && !Identifiers.uspsStates.contains("XX"))
  }

  @Test("PO Boxes", arguments: ["PO Box 12", "P.O. Box 12", "p o box 9", "Post Office Box 7", "POB 3", "PO BOX 1", "POBox 12"])
  func poBoxes(_ line: String) { #expect(Identifiers.isPOBox(line)) }

  @Test("street addresses are not PO Boxes", arguments: ["12 Harbor St", "100 Pobox Lane Suite 2", "1 Boxwood Ct", "Poe Boulevard 3"])
  func streets(_ line: String) { #expect(!Identifiers.isPOBox(line)) }
}

@Suite("Business rules")
struct BusinessRulesTests {
  static func base() -> Practice_V1_BusinessInfo {
    var b = Practice_V1_BusinessInfo()
    b.accountID = "acct_1"
    b.practiceName = "Harbor Therapy"
    return b
  }

  static func address(_ line1: String = "12 Harbor St", zip: String = "02134") -> Practice_V1_Address {
    var a = Practice_V1_Address()
    a.line1 = line1
    a.city = "Boston"
    a.state = "MA"
    a.zip = zip
    return a
  }

  func apply(_ change: Practice_V1_BusinessInfo, _ mask: [String]) throws(DomainError) -> Practice_V1_BusinessInfo {
    try BusinessRules.apply(Self.base(), mask: try UpdateMask(mask, allowed: BusinessRules.maskFields), change)
  }

  func fields(_ change: Practice_V1_BusinessInfo, _ mask: [String]) -> Set<String> {
    do {
      _ = try apply(change, mask)
      return []
    } catch {
      return Set(error.violations.map(\.field))
    }
  }

  @Test("a complete, valid record is normalized")
  func valid() throws {
    var b = Practice_V1_BusinessInfo()
    b.practiceName = "Harbor Therapy"
    b.legalName = "Harbor Therapy LLC"
    b.billingProviderType = .organization
    b.taxID = "12-3456789"
    b.taxIDType = .ein
    b.npi = "1234567893"
    b.npiEntityType = .type2
    b.taxonomyCode = "101YM0800X"
    b.phone = "(617) 555-0100"
    b.fax = "+44 20 7946 0958"
    b.email = "office@harbor.example"
    b.website = "https://harbor.example"
    b.address = Self.address(zip: "02134-1234")
    b.billingProviderAddress = Self.address()
    b.payToAddress = Self.address("PO Box 12")
    let out = try apply(b, Array(BusinessRules.maskFields.filter { !$0.contains(".") }))
    #expect(out.taxID == "123456789")
    #expect(out.phone == "6175550100" && out.fax == "+442079460958")
    #expect(out.address.zip == "021341234")
    #expect(out.payToAddress.line1 == "PO Box 12")
  }

  @Test("an NPI stated TYPE_2 on an INDIVIDUAL billing provider is refused; a bad NPI too")
  func npiEntity() {
    var b = Practice_V1_BusinessInfo()
    b.billingProviderType = .individual
    b.npi = "1234567893"
    b.npiEntityType = .type2
    #expect(fields(b, ["billing_provider_type", "npi", "npi_entity_type"]) == ["business_info.npi_entity_type"])
    b.npiEntityType = .type1
    #expect(fields(b, ["billing_provider_type", "npi", "npi_entity_type"]).isEmpty)
    b.npi = "1093791627"
    #expect(fields(b, ["billing_provider_type", "npi", "npi_entity_type"]) == ["business_info.npi"])
    b.billingProviderType = .organization
    b.npi = "1234567893"
    #expect(fields(b, ["billing_provider_type", "npi", "npi_entity_type"]) == ["business_info.npi_entity_type"])
  }

  @Test("ZIP 1234 and a PO Box in the billing-provider address are refused, all at once")
  func addresses() {
    var b = Practice_V1_BusinessInfo()
    b.address = Self.address(zip: "1234")
    b.billingProviderAddress = Self.address("PO Box 12")
    #expect(fields(b, ["address", "billing_provider_address"]) == [
      "business_info.address.zip", "business_info.billing_provider_address.line1",
    ])
    b.address = Self.address()
    b.address.state = "Massachusetts"
    #expect(fields(b, ["address"]) == ["business_info.address.state"])
  }

  @Test("every invalid field is reported, each named")
  func allAtOnce() {
    var b = Practice_V1_BusinessInfo()
    b.practiceName = ""
    b.taxID = "12345"
    b.taxIDType = .ein
    b.taxonomyCode = "bad"
    b.phone = "555"
    b.email = "no"
    b.website = "ftp://x"
    #expect(fields(b, ["practice_name", "tax_id", "tax_id_type", "taxonomy_code", "phone", "email", "website"]) == [
      "business_info.practice_name", "business_info.tax_id", "business_info.taxonomy_code", "business_info.phone",
      "business_info.email", "business_info.website",
    ])
  }

  @Test("a tax id needs its type; clearing an optional address removes it")
  func taxTypeAndClearing() throws {
    var b = Practice_V1_BusinessInfo()
    b.taxID = "123456789"
    #expect(fields(b, ["tax_id"]) == ["business_info.tax_id_type"])
    var current = Self.base()
    current.payToAddress = Self.address()
    let cleared = try BusinessRules.apply(current, mask: try UpdateMask(["pay_to_address"], allowed: BusinessRules.maskFields), Practice_V1_BusinessInfo())
    #expect(cleared.payToAddressPresence == nil)
  }

  @Test("a nested mask path changes only that part of an address")
  func nestedMask() throws {
    var current = Self.base()
    current.address = Self.address()
    var change = Practice_V1_BusinessInfo()
    change.address.city = "Cambridge"
    change.address.line1 = "ignored"
    let out = try BusinessRules.apply(current, mask: try UpdateMask(["address.city"], allowed: BusinessRules.maskFields), change)
    #expect(out.address.city == "Cambridge" && out.address.line1 == "12 Harbor St")
  }
}
