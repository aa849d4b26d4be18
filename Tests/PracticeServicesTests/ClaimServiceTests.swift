import Foundation
import PracticeCore
import PracticeProto
import PracticeTestSupport
import Testing

/// An account that is ready to bill: an organization with its NPI, taxonomy, EIN and a 9-digit ZIP,
/// a pay-to PO Box, a practitioner with an individual NPI, and an office with its own address.
struct ClaimSetup: Sendable {
  let staff: Staff
  let rendering: String
  let office: String

  var account: String { staff.account }

  static func address(_ line1: String, _ zip: String, line2: String = "") -> Practice_V1_Address {
    var a = Practice_V1_Address()
    a.line1 = line1
    a.line2 = line2
    a.city = "Boston"
    a.state = "MA"
    a.zip = zip
    return a
  }

  static func make(_ c: some ClientTransport) async throws -> ClaimSetup {
    let s = try await Staff.make(c)
    _ = try await c.business.updateBusinessInfo(businessUpdate(s.account, [
      "legal_name", "billing_provider_type", "npi", "npi_entity_type", "taxonomy_code", "tax_id", "tax_id_type", "phone",
      "address", "pay_to_address",
    ]) { b in
      b.legalName = "Harbor Therapy Group LLC"
      b.billingProviderType = .organization
      b.npi = "1234567893"
      b.npiEntityType = .type2
      b.taxonomyCode = "101YM0800X"
      b.taxID = "12-3456789"
      b.taxIDType = .ein
      b.phone = "617-555-0100"
      b.address = address("12 Harbor St", "02134-1234", line2: "Suite 200")
      b.payToAddress = address("PO Box 55", "02134-0055")
    })
    var add = Make.user(s.account, "Jordan Rivera", roles: [.practitioner])
    add.npi = "1245319599"
    add.taxonomyCode = "101YP2500X"
    let rendering = try await c.accounts.addUser(add).user.userID
    var loc = PracticeTestSupport.office(s.account, "North End Office")
    loc.location.address = address("300 Hanover St", "02113-2104")
    let office = try await c.locations.createLocation(loc).location.locationID
    return ClaimSetup(staff: s, rendering: rendering, office: office)
  }

  func request(location: String? = nil, rendering: String? = nil, payer: String = "", atHome: Bool = false,
               date: String = "2026-03-02", full: Bool = false) -> Practice_V1_ResolveClaimProfileRequest {
    var r = Practice_V1_ResolveClaimProfileRequest()
    r.accountID = account
    r.locationID = location ?? office
    r.renderingUserID = rendering ?? self.rendering
    r.payerID = payer
    r.patientAtHome = atHome
    r.dateOfService = date
    r.fullTaxID = full
    return r
  }
}

@Suite("ClaimService, in process")
struct ClaimServiceTests {
  /// The profile written as the 837P provider block, as a claims engine would write it (this
  /// projection is the test's; the daemon hands out the values, not segments).
  static func segments(_ p: Practice_V1_ResolveClaimProfileResponse) -> [String] {
    func up(_ s: String) -> String { s.uppercased() }
    func address(_ a: Practice_V1_Address) -> [String] {
      ["N3*" + up(a.line1) + (a.line2.isEmpty ? "" : "*" + up(a.line2)) + "~", "N4*\(up(a.city))*\(a.state)*\(a.zip)~"]
    }
    let b = p.billingProvider
    var out = ["PRV*BI*PXC*\(b.taxonomyCode)~"]
    out.append("NM1*85*\(b.type == .individual ? "1" : "2")*\(up(b.name))*****XX*\(b.npi)~")
    out += address(b.address)
    out.append("REF*\(b.taxIDType == .ssn ? "SY" : "EI")*\(b.taxID.filter(\.isNumber))~")
    if p.hasPayToAddress {
      out.append("NM1*87*2~")
      out += address(p.payToAddress)
    }
    out.append("CLM05*\(p.placeOfService.posCode):B:1~")
    if p.hasRenderingProvider {
      let r = p.renderingProvider
      let words = r.name.split(separator: " ")
      let last = words.last.map(String.init) ?? ""
      let first = words.dropLast().joined(separator: " ")
      out.append("NM1*82*1*\(up(last))*\(up(first))****XX*\(r.npi)~")
      out.append("PRV*PE*PXC*\(r.taxonomyCode)~")
    }
    if p.hasServiceFacility {
      out.append("NM1*77*2*\(up(p.serviceFacility.name))~")
      out += address(p.serviceFacility.address)
    }
    return out
  }

  @Test("a ready account's profile matches, segment by segment, the hand-written 837P provider block")
  func matches837P() async throws {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/claim-837p-provider", withExtension: "x12"))
    let expected = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
      .map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty }
    try await withServices { d in
      let c = try await d.connect()
      let cs = try await ClaimSetup.make(c)
      let svc = try await d.connect(as: .service)
      let p = try await svc.claims.resolveClaimProfile(cs.request(full: true), options: .init(actor: cs.staff.biller))
      #expect(p.ready && p.problems.isEmpty, "\(p.problems)")
      let got = Self.segments(p)
      #expect(got.count == expected.count)
      for (g, e) in zip(got, expected) { #expect(g == e) }
      #expect(p.placeOfService.decidedBy == .locationCode && p.placeOfService.code.name == "Office")
      #expect(p.billingProvider.phone == "6175550100")
    }
  }

  @Test("the tax id is masked unless asked in full; a full read is for BILLER and administrators, and is audited")
  func taxID() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let cs = try await ClaimSetup.make(c)
      let svc = try await d.connect(as: .service)
      let method = "/practice.v1.ClaimService/ResolveClaimProfile"
      let masked = try await svc.claims.resolveClaimProfile(cs.request(), options: .init(actor: cs.staff.biller))
      #expect(masked.billingProvider.taxID == "**-***6789" && masked.billingProvider.taxIDMasked)
      #expect(try await auditEvents(c, cs.account, method: method).isEmpty)
      for actor in [cs.staff.biller, cs.staff.admin, cs.staff.owner] {
        let full = try await svc.claims.resolveClaimProfile(cs.request(full: true), options: .init(actor: actor, requestID: "claim-\(actor)"))
        #expect(full.billingProvider.taxID == "12-3456789" && !full.billingProvider.taxIDMasked)
      }
      let events = try await auditEvents(c, cs.account, method: method)
      #expect(events.count == 3)
      #expect(events.allSatisfy { $0.note == "full tax id read (claim profile)" && $0.resourceKind == .businessInfo })
      #expect(Set(events.map(\.actorUserID)) == [cs.staff.biller, cs.staff.admin, cs.staff.owner])
      #expect(events.allSatisfy { !$0.afterJson.contains("123456789") && !$0.beforeJson.contains("123456789") })
      // Anyone else may not call it at all, masked or not.
      for actor in [cs.staff.practitioner, cs.staff.scheduler, cs.staff.supervisor, cs.rendering] {
        for full in [false, true] {
          await expectRPCError(.permissionDenied, .roleRequired) {
            _ = try await svc.claims.resolveClaimProfile(cs.request(full: full), options: .init(actor: actor))
          }
        }
      }
      #expect(try await auditEvents(c, cs.account, method: method).count == 3)
    }
  }

  @Test("the versions it was built from follow each setting; a not-ready profile is still an OK answer")
  func versions() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let cs = try await ClaimSetup.make(c)
      let first = try await c.claims.resolveClaimProfile(cs.request())
      var getBusiness = Practice_V1_GetBusinessInfoRequest()
      getBusiness.accountID = cs.account
      #expect(first.versions.businessInfoVersion == (try await c.business.getBusinessInfo(getBusiness).businessInfo.version))
      #expect(first.versions.locationVersion == 1 && first.versions.renderingUserVersion == 1)
      #expect(first.versions.accountChangeSequence == (try await state(c, cs.account).changeSequence))
      // The same settings: the same versions.
      #expect(try await c.claims.resolveClaimProfile(cs.request()).versions == first.versions)

      var update = Practice_V1_UpdateLocationRequest()
      update.accountID = cs.account
      update.locationID = cs.office
      update.updateMask = ["address"]
      update.location.address = ClaimSetup.address("300 Hanover St", "02113")
      _ = try await c.locations.updateLocation(update)
      let second = try await c.claims.resolveClaimProfile(cs.request())
      #expect(second.versions.locationVersion == 2 && second.versions.businessInfoVersion == first.versions.businessInfoVersion)
      #expect(second.versions.accountChangeSequence > first.versions.accountChangeSequence)
      #expect(!second.ready && second.problems.map(\.reason) == ["ZIP_PLUS4_REQUIRED"])
      #expect(second.problems[0].field == "location.address.zip" && second.problems[0].resourceID == cs.office)

      var user = Practice_V1_UpdateUserRequest()
      user.accountID = cs.account
      user.userID = cs.rendering
      user.updateMask = ["taxonomy_code"]
      let third = try await { () async throws -> Practice_V1_ResolveClaimProfileResponse in
        _ = try await c.accounts.updateUser(user)
        return try await c.claims.resolveClaimProfile(cs.request())
      }()
      #expect(third.versions.renderingUserVersion == 2)
      #expect(third.problems.map(\.reason) == ["TAXONOMY_MISSING", "ZIP_PLUS4_REQUIRED"])
    }
  }

  @Test("telehealth: POS by the payer's rule, the facility the practice's own address; an archived location is reported")
  func telehealthAndArchived() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let cs = try await ClaimSetup.make(c)
      let tele = try await c.locations.createLocation(telehealth(cs.account)).location.locationID
      var rule = Practice_V1_SetPayerPosRuleRequest()
      rule.accountID = cs.account
      rule.rule.payerID = "payer_only_02"
      rule.rule.payerName = "Only 02"
      rule.rule.homePosCode = "02"
      rule.rule.notHomePosCode = "02"
      _ = try await c.locations.setPayerPosRule(rule)
      var p = try await c.claims.resolveClaimProfile(cs.request(location: tele, payer: "payer_only_02", atHome: true))
      #expect(p.placeOfService.posCode == "02" && p.placeOfService.decidedBy == .payerRule)
      #expect(p.versions.payerPosRuleVersion == 1)
      // Billed from the physical address, which is also the facility: omitted.
      #expect(!p.hasServiceFacility && p.ready)
      p = try await c.claims.resolveClaimProfile(cs.request(location: tele, atHome: true, date: "2021-12-31"))
      #expect(p.problems.map(\.reason) == ["POS_NOT_EFFECTIVE"] && p.placeOfService.posCode == "10")

      var makeDefault = Practice_V1_UpdateLocationRequest()
      makeDefault.accountID = cs.account
      makeDefault.locationID = tele
      makeDefault.updateMask = ["is_default"]
      makeDefault.location.isDefault = true
      _ = try await c.locations.updateLocation(makeDefault)
      var archive = Practice_V1_ArchiveLocationRequest()
      archive.accountID = cs.account
      archive.locationID = cs.office
      _ = try await c.locations.archiveLocation(archive)
      p = try await c.claims.resolveClaimProfile(cs.request())
      #expect(p.problems.map(\.reason) == ["LOCATION_ARCHIVED"])
    }
  }

  @Test("unknown or foreign ids fail; a bad date and missing ids are invalid")
  func badInput() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let cs = try await ClaimSetup.make(c)
      let other = try await ClaimSetup.make(c)
      await expectRPCError(.notFound, .notFound) { _ = try await c.claims.resolveClaimProfile(cs.request(location: "loc_nope")) }
      await expectRPCError(.notFound, .notFound) { _ = try await c.claims.resolveClaimProfile(cs.request(location: other.office)) }
      await expectRPCError(.notFound, .notFound) { _ = try await c.claims.resolveClaimProfile(cs.request(rendering: other.rendering)) }
      var foreign = cs.request()
      foreign.accountID = "acct_nope"
      await expectRPCError(.notFound, .notFound) { _ = try await c.claims.resolveClaimProfile(foreign) }
      let e = await expectRPCError(.invalidArgument, .validationFailed) {
        _ = try await c.claims.resolveClaimProfile(cs.request(date: "03/02/2026"))
      }
      #expect(e?.violations.map(\.field) == ["date_of_service"])
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.claims.resolveClaimProfile(cs.request(rendering: "")) }
      // A service peer of another account's user: not this account's actor.
      let svc = try await d.connect(as: .service)
      await expectRPCError(.permissionDenied, .unknownActor) {
        _ = try await svc.claims.resolveClaimProfile(cs.request(), options: .init(actor: other.staff.biller))
      }
    }
  }

  @Test("users' individual NPI and taxonomy: set by AddUser and UpdateUser, validated, listed and exported")
  func userIdentifiers() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let cs = try await ClaimSetup.make(c)
      var bad = Make.user(cs.account, "Casey", roles: [.practitioner])
      bad.npi = "1093791627"
      bad.taxonomyCode = "101yp2500x"
      let e = await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.accounts.addUser(bad) }
      #expect(Set(e?.violations.map(\.field) ?? []) == ["npi", "taxonomy_code"])

      var list = Practice_V1_ListUsersRequest()
      list.accountID = cs.account
      let listed = try #require(try await c.accounts.listUsers(list).users.first { $0.userID == cs.rendering })
      #expect(listed.npi == "1245319599" && listed.taxonomyCode == "101YP2500X")

      var update = Practice_V1_UpdateUserRequest()
      update.accountID = cs.account
      update.userID = cs.staff.practitioner
      update.updateMask = ["npi", "taxonomy_code"]
      update.user.npi = "12345"
      update.user.taxonomyCode = "103T00000X"
      let u = await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.accounts.updateUser(update) }
      #expect(u?.violations.map(\.field) == ["user.npi"])
      update.user.npi = "1234567893"
      let updated = try await c.accounts.updateUser(update).user
      #expect(updated.npi == "1234567893" && updated.taxonomyCode == "103T00000X" && updated.version == 2)
      // Only the masked fields change: clearing the taxonomy keeps the NPI.
      update.updateMask = ["taxonomy_code"]
      update.user.taxonomyCode = ""
      let cleared = try await c.accounts.updateUser(update).user
      #expect(cleared.npi == "1234567893" && cleared.taxonomyCode.isEmpty)

      var export = Practice_V1_ExportAccountRequest()
      export.accountID = cs.account
      var exported: [Practice_V1_User] = []
      for try await chunk in try c.accounts.exportAccount(export) { exported += chunk.users }
      #expect(exported.first { $0.userID == cs.rendering }?.npi == "1245319599")
      #expect(exported.first { $0.userID == cs.staff.practitioner }?.npi == "1234567893")
    }
  }

  @Test("one snapshot: under concurrent business changes, every profile's versions come from one moment")
  func snapshot() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let cs = try await ClaimSetup.make(c)
      let base = try await c.claims.resolveClaimProfile(cs.request()).versions
      // Each legal-name change moves the business information's version and the account's change
      // sequence by one, in one transaction: their difference is fixed in any one moment.
      let offset = base.accountChangeSequence - base.businessInfoVersion
      let stop = Shared(false)
      let readers = try await (0..<3).asyncMap { _ in try await d.connect(as: .service) }
      let tasks = readers.map { r in
        Task { () -> (Int, Int) in
          var mixed = 0
          var reads = 0
          while !stop.withLock({ $0 }) {
            guard let v = try? await r.claims.resolveClaimProfile(cs.request(), options: .init(actor: cs.staff.biller)).versions
            else { continue }
            if v.accountChangeSequence - v.businessInfoVersion != offset { mixed += 1 }
            reads += 1
          }
          return (mixed, reads)
        }
      }
      for i in 0..<100 {
        _ = try await c.business.updateBusinessInfo(businessUpdate(cs.account, ["legal_name"]) { $0.legalName = "Harbor \(i) LLC" })
      }
      stop.withLock { $0 = true }
      var reads = 0
      for t in tasks {
        let (mixed, n) = await t.value
        #expect(mixed == 0)
        reads += n
      }
      #expect(reads > 0)
      let last = try await c.claims.resolveClaimProfile(cs.request())
      #expect(last.billingProvider.name == "Harbor 99 LLC" && last.versions.businessInfoVersion == base.businessInfoVersion + 100)
    }
  }
}
