import Foundation
import PracticeProto
import PracticeCore

/// Identifier checks for US health billing (PRODUCT.md, "Business information").
public enum Identifiers {
  /// NPI: 10 digits, first digit 1 or 2, and a Luhn check digit computed over the number with the
  /// `80840` prefix (the card-issuer prefix of NPIs). `1234567893` is valid, `1093791627` is not.
  public static func isValidNPI(_ npi: String) -> Bool {
    let digits = Array(npi.utf8)
    guard digits.count == 10, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }),
      digits[0] == UInt8(ascii: "1") || digits[0] == UInt8(ascii: "2")
    else { return false }
    return luhnValid("80840" + npi)
  }

  /// The Luhn check over a string of ASCII digits (the last digit is the check digit).
  public static func luhnValid(_ digits: some StringProtocol) -> Bool {
    var sum = 0
    var double = false
    for c in digits.utf8.reversed() {
      guard c >= 48 && c <= 57 else { return false }
      var d = Int(c - 48)
      if double {
        d *= 2
        if d > 9 { d -= 9 }
      }
      sum += d
      double.toggle()
    }
    return !digits.isEmpty && sum % 10 == 0
  }

  /// A tax id as 9 digits: accepts 9 digits, `XX-XXXXXXX` for an EIN, `XXX-XX-XXXX` for an SSN.
  public static func normalizeTaxID(_ value: String, type: Practice_V1_TaxIdType) -> String? {
    let digits = value.filter(\.isASCII).filter(\.isNumber)
    guard digits.count == 9 else { return nil }
    if value == digits { return digits }
    switch type {
    case .ein: return value == formatEIN(digits) ? digits : nil
    case .ssn: return value == formatSSN(digits) ? digits : nil
    default: return nil
    }
  }

  public static func formatEIN(_ d: String) -> String { String(d.prefix(2)) + "-" + String(d.dropFirst(2)) }
  public static func formatSSN(_ d: String) -> String {
    String(d.prefix(3)) + "-" + String(d.dropFirst(3).prefix(2)) + "-" + String(d.dropFirst(5))
  }

  /// How a tax id is shown in full: `XX-XXXXXXX` (EIN) or `XXX-XX-XXXX` (SSN).
  public static func displayTaxID(_ digits: String, type: Practice_V1_TaxIdType) -> String {
    guard digits.count == 9 else { return digits }
    return type == .ssn ? formatSSN(digits) : formatEIN(digits)
  }

  /// The masked form: only the last 4 digits, in the type's shape (`**-***6789`, `***-**-6789`).
  public static func maskTaxID(_ digits: String, type: Practice_V1_TaxIdType) -> String {
    guard digits.count == 9 else { return String(repeating: "*", count: max(digits.count - 4, 0)) + digits.suffix(4) }
    let last4 = String(digits.suffix(4))
    return type == .ssn ? "***-**-" + last4 : "**-***" + last4
  }

  /// Taxonomy code: `^[0-9]{3}[0-9A-Z]{6}X$`.
  public static func isValidTaxonomy(_ code: String) -> Bool {
    let c = Array(code.utf8)
    guard c.count == 10 else { return false }
    func digit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
    func upperOrDigit(_ b: UInt8) -> Bool { digit(b) || (b >= 65 && b <= 90) }
    return c[0..<3].allSatisfy(digit) && c[3..<9].allSatisfy(upperOrDigit) && c[9] == UInt8(ascii: "X")
  }

  /// A phone or fax number as stored: 10 digits for a NANP number (`NXX-NXX-XXXX`, N = 2-9; written
  /// with or without `+1`, spaces, dots, dashes, parentheses), or E.164 (`+` and 8-15 digits) for a
  /// number outside NANP. Nil when it is neither.
  public static func normalizePhone(_ value: String) -> String? {
    let allowed = Set("0123456789+-(). ")
    guard !value.isEmpty, value.allSatisfy({ allowed.contains($0) }) else { return nil }
    let plus = value.hasPrefix("+")
    guard value.dropFirst(plus ? 1 : 0).allSatisfy({ $0 != "+" }) else { return nil }
    var digits = value.filter(\.isNumber)
    if plus && !digits.hasPrefix("1") {
      guard (8...15).contains(digits.count), !digits.hasPrefix("0") else { return nil }
      return "+" + digits
    }
    if digits.count == 11 && digits.hasPrefix("1") { digits.removeFirst() }
    let d = Array(digits.utf8)
    guard d.count == 10, d[0] >= UInt8(ascii: "2"), d[3] >= UInt8(ascii: "2") else { return nil }
    return digits
  }

  /// USPS state and territory codes, including military (AA, AE, AP).
  public static let uspsStates: Set<String> = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA",
    "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK",
    "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC",
    "AS", "GU", "MP", "PR", "VI", "FM", "MH", "PW", "AA", "AE", "AP",
  ]

  /// A ZIP code as stored: 5 or 9 digits (`12345`, `12345-6789`, `123456789`).
  public static func normalizeZIP(_ value: String) -> String? {
    let digits = value.filter { $0 != "-" }
    guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.count == 5 || digits.count == 9 else { return nil }
    if value.contains("-") && !(value.count == 10 && value.dropFirst(5).first == "-") { return nil }
    return digits
  }

  /// Whether an address line names a post-office box ("PO Box 12", "P.O. Box", "Post Office Box", "POB 3").
  public static func isPOBox(_ line: String) -> Bool {
    let normalized = line.lowercased().replacingOccurrences(of: ".", with: "")
      .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," || $0 == "#" }).joined(separator: " ")
    let padded = " " + normalized + " "
    return padded.contains(" po box ") || padded.range(of: #" pobox \d"#, options: .regularExpression) != nil
      || padded.contains(" post office box ")
      || padded.range(of: #" pob \d"#, options: .regularExpression) != nil || padded.contains(" p o box ")
  }
}

/// Business information rules: applying an update and validating the result.
public enum BusinessRules {
  /// The fields an `update_mask` may name.
  public static let maskFields: Set<String> = {
    var s: Set<String> = [
      "practice_name", "legal_name", "billing_provider_type", "tax_id", "tax_id_type", "npi", "npi_entity_type",
      "taxonomy_code", "phone", "fax", "email", "website",
    ]
    for a in ["address", "billing_provider_address", "pay_to_address"] {
      s.insert(a)
      for p in ["line1", "line2", "city", "state", "zip"] { s.insert("\(a).\(p)") }
    }
    return s
  }()

  /// Applies the masked fields of `new` to `current`, normalizes them and validates the whole
  /// record; every violation is reported at once. `current.tax_id` holds the stored digits.
  public static func apply(
    _ current: Practice_V1_BusinessInfo, mask: UpdateMask, _ new: Practice_V1_BusinessInfo
  ) throws(DomainError) -> Practice_V1_BusinessInfo {
    var b = current
    let p = "business_info."
    var v = Violations()
    if mask.covers("practice_name") { b.practiceName = new.practiceName }
    if mask.covers("legal_name") { b.legalName = new.legalName }
    if mask.covers("billing_provider_type") { b.billingProviderType = new.billingProviderType }
    if mask.covers("tax_id_type") { b.taxIDType = new.taxIDType }
    if mask.covers("tax_id") {
      if new.taxID.isEmpty {
        b.taxID = ""
      } else if let digits = Identifiers.normalizeTaxID(new.taxID, type: b.taxIDType) {
        b.taxID = digits
      } else {
        v.add(p + "tax_id", b.taxIDType == .ssn ? "must be 9 digits (XXX-XX-XXXX)" : "must be 9 digits (XX-XXXXXXX)")
      }
    }
    if mask.covers("npi") { b.npi = new.npi }
    if mask.covers("npi_entity_type") { b.npiEntityType = new.npiEntityType }
    if mask.covers("taxonomy_code") { b.taxonomyCode = new.taxonomyCode }
    for (field, value, keyPath) in [("phone", new.phone, \Practice_V1_BusinessInfo.phone), ("fax", new.fax, \.fax)]
    where mask.covers(field) {
      if value.isEmpty {
        b[keyPath: keyPath] = ""
      } else if let n = Identifiers.normalizePhone(value) {
        b[keyPath: keyPath] = n
      } else {
        v.add(p + field, "must be a US number NXX-NXX-XXXX (N = 2-9) or E.164 (+ and 8-15 digits)")
      }
    }
    if mask.covers("email") { b.email = new.email }
    if mask.covers("website") { b.website = new.website }

    if mask.touches("address") { b.address = applyAddress(b.address, mask: mask, prefix: "address", new.address) }
    if mask.touches("billing_provider_address") {
      let updated = applyAddress(b.billingProviderAddress, mask: mask, prefix: "billing_provider_address", new.billingProviderAddress)
      b.billingAddressPresence = isEmpty(updated) ? nil : .billingProviderAddress(updated)
    }
    if mask.touches("pay_to_address") {
      let updated = applyAddress(b.payToAddress, mask: mask, prefix: "pay_to_address", new.payToAddress)
      b.payToAddressPresence = isEmpty(updated) ? nil : .payToAddress(updated)
    }

    validate(&b, into: &v)
    try v.check()
    return b
  }

  private static func isEmpty(_ a: Practice_V1_Address) -> Bool { a == Practice_V1_Address() }

  private static func applyAddress(
    _ current: Practice_V1_Address, mask: UpdateMask, prefix: String, _ new: Practice_V1_Address
  ) -> Practice_V1_Address {
    var a = current
    if mask.covers(prefix + ".line1") { a.line1 = new.line1 }
    if mask.covers(prefix + ".line2") { a.line2 = new.line2 }
    if mask.covers(prefix + ".city") { a.city = new.city }
    if mask.covers(prefix + ".state") { a.state = new.state }
    if mask.covers(prefix + ".zip") { a.zip = new.zip }
    return a
  }

  /// Validates (and normalizes the ZIPs of) a whole business-information record.
  static func validate(_ b: inout Practice_V1_BusinessInfo, into v: inout Violations) {
    let p = "business_info."
    if let problem = TextRules.checkName(b.practiceName) { v.add(p + "practice_name", problem) }
    if let problem = TextRules.checkName(b.legalName, required: false) { v.add(p + "legal_name", problem) }
    if !b.taxID.isEmpty {
      switch b.taxIDType {
      case .ein, .ssn: break
      default: v.add(p + "tax_id_type", "must be EIN or SSN when a tax id is set")
      }
    }
    if !b.npi.isEmpty {
      if !Identifiers.isValidNPI(b.npi) {
        v.add(p + "npi", "must be 10 digits starting with 1 or 2 with a valid check digit")
      }
      switch (b.billingProviderType, b.npiEntityType) {
      case (.organization, .type2), (.individual, .type1): break
      case (.organization, _):
        v.add(p + "npi_entity_type", "an ORGANIZATION billing provider needs a TYPE_2 NPI")
      case (.individual, _):
        v.add(p + "npi_entity_type", "an INDIVIDUAL billing provider needs a TYPE_1 NPI")
      default:
        v.add(p + "billing_provider_type", "must be INDIVIDUAL or ORGANIZATION when an NPI is set")
      }
    }
    if !b.taxonomyCode.isEmpty && !Identifiers.isValidTaxonomy(b.taxonomyCode) {
      v.add(p + "taxonomy_code", "must be 10 characters: 3 digits, 6 digits or capitals, then X")
    }
    if !b.email.isEmpty && !TextRules.isValidEmail(b.email) { v.add(p + "email", "is not a valid email address") }
    if !b.website.isEmpty {
      if let url = URL(string: b.website), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
        let host = url.host, host.contains(".")
      {
      } else {
        v.add(p + "website", "must be an http or https URL")
      }
    }
    if !isEmpty(b.address) { validateAddress(&b.address, field: p + "address", into: &v, physical: false) }
    if case .billingProviderAddress(var a)? = b.billingAddressPresence {
      validateAddress(&a, field: p + "billing_provider_address", into: &v, physical: true)
      b.billingProviderAddress = a
    }
    if case .payToAddress(var a)? = b.payToAddressPresence {
      validateAddress(&a, field: p + "pay_to_address", into: &v, physical: false)
      b.payToAddress = a
    }
  }

  /// A complete US address; `physical` refuses a PO Box (the billing-provider address).
  public static func validateAddress(_ a: inout Practice_V1_Address, field: String, into v: inout Violations, physical: Bool) {
    if let problem = TextRules.checkName(a.line1) { v.add(field + ".line1", problem) }
    if let problem = TextRules.checkName(a.line2, required: false) { v.add(field + ".line2", problem) }
    if let problem = TextRules.checkName(a.city) { v.add(field + ".city", problem) }
    if !Identifiers.uspsStates.contains(a.state) { v.add(field + ".state", "must be a USPS two-letter state code") }
    if let zip = Identifiers.normalizeZIP(a.zip) {
      a.zip = zip
    } else {
      v.add(field + ".zip", "must be 5 or 9 digits")
    }
    if physical && (Identifiers.isPOBox(a.line1) || Identifiers.isPOBox(a.line2)) {
      v.add(field + ".line1", "must be a physical street address: a PO Box belongs in the pay-to address")
    }
  }
}
