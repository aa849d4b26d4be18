import ArgumentParser
import Foundation
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeWire

/// How a command shows and reads times: in the account's time zone, its IANA name in the header
/// ("START (America/New_York)"), so that a weekly 10:00 booking reads 10:00 on both sides of a DST
/// change; or in UTC with --utc. A time written without an offset is read in that zone.
struct TimeDisplay {
  let zone: TimeZone
  let name: String

  static let utc = TimeDisplay(zone: TimeZone(identifier: "UTC")!, name: "UTC")

  /// The account's zone (one GetAccount call), or UTC when asked.
  static func of(_ account: String, _ c: PracticeConnection, _ o: CallOptions, utc: Bool) async throws -> TimeDisplay {
    if utc { return .utc }
    var r = Practice_V1_GetAccountRequest()
    r.accountID = account
    let name = try await c.accounts.getAccount(r, options: o).account.settings.timeZone
    guard let zone = TimeZone(identifier: name) else { return .utc }
    return TimeDisplay(zone: zone, name: name)
  }

  private func formatter(_ format: String) -> DateFormatter {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = zone
    f.dateFormat = format
    return f
  }

  /// "2030-01-07 10:00" in the zone.
  func show(_ ms: Int64) -> String {
    formatter("yyyy-MM-dd HH:mm").string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
  }

  func header(_ title: String) -> String { "\(title) (\(name))" }

  /// Unix milliseconds, ISO 8601 with an offset, or a wall-clock time in the zone
  /// (`2030-01-07T10:00`, `2030-01-07 10:00`, with or without seconds).
  func parse(_ text: String, _ name: String) throws -> Int64 {
    if let ms = Int64(text) { return ms }
    let iso = ISO8601DateFormatter()
    if let d = iso.date(from: text) { return Int64(d.timeIntervalSince1970 * 1000) }
    iso.formatOptions.insert(.withFractionalSeconds)
    if let d = iso.date(from: text) { return Int64(d.timeIntervalSince1970 * 1000) }
    for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm"] {
      if let d = formatter(format).date(from: text) { return Int64(d.timeIntervalSince1970 * 1000) }
    }
    throw ValidationError("--\(name): not a time (2030-01-07T10:00 in the account's zone, ISO 8601 with an offset, or Unix ms): \(text)")
  }
}

struct LocationCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "location", abstract: "Service locations.",
    subcommands: [Create.self, Get.self, List.self, Update.self, Archive.self, Unarchive.self])

  static func table(_ ls: [Practice_V1_Location]) {
    Output.table(["LOCATION", "NAME", "POS", "TELEHEALTH", "DEFAULT", "ARCHIVED", "ADDRESS", "VERSION"], ls.map { l in
      let a = l.addressPresence == nil ? "-" : [l.address.line1, l.address.city, l.address.state, l.address.zip].joined(separator: ", ")
      return [l.locationID, l.name, l.posCode, l.telehealth ? "yes" : "no", l.isDefault ? "yes" : "no",
              l.archived ? "yes" : "no", a, "\(l.version)"]
    })
  }

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a location (the first becomes the default).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option var name: String
    @Option(help: "Two-digit CMS Place of Service code (telehealth default: 02).") var posCode: String = ""
    @Flag(help: "A telehealth location (address optional).") var telehealth = false
    @Flag(name: .customLong("default"), help: "Make it the default location.") var makeDefault = false
    @OptionGroup(title: "Address") var address: AddressPrefixed

    func run() async throws {
      var req = Practice_V1_CreateLocationRequest()
      req.accountID = accountID
      req.location.name = name
      req.location.posCode = posCode
      req.location.telehealth = telehealth
      req.location.isDefault = makeDefault
      if !address.options.isEmpty {
        var a = Practice_V1_Address()
        var ignored: [String] = []
        address.options.apply(to: &a, field: "address", mask: &ignored)
        req.location.address = a
      }
      let resp = try await connection.run { c, o in try await c.locations.createLocation(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      LocationCommand.table([resp.location])
    }
  }

  struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a location.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var locationID: String

    func run() async throws {
      var req = Practice_V1_GetLocationRequest()
      req.accountID = accountID
      req.locationID = locationID
      let resp = try await connection.run { c, o in try await c.locations.getLocation(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      LocationCommand.table([resp.location])
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List locations.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Flag var includeArchived = false
    @OptionGroup var paging: PageOptions

    func run() async throws {
      var req = Practice_V1_ListLocationsRequest()
      req.accountID = accountID
      req.includeArchived = includeArchived
      req.pageSize = paging.pageSize
      req.pageToken = paging.pageToken
      let pages = try await connection.run { c, o in
        try await Output.pages(c.locations.listLocationsPages(req, options: o), all: paging.all)
      }
      try Output.list(pages, json: connection.json, token: \.nextPageToken) { LocationCommand.table($0.flatMap(\.locations)) }
    }
  }

  struct Update: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Change a location: each option given is changed.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var locationID: String
    @Option var name: String?
    @Option var posCode: String?
    @Option(help: "true or false.") var telehealth: Bool?
    @Flag(name: .customLong("make-default"), help: "Make it the default location.") var makeDefault = false
    @OptionGroup(title: "Address") var address: AddressPrefixed
    @Option var expectedVersion: Int64 = 0

    func run() async throws {
      var req = Practice_V1_UpdateLocationRequest()
      req.accountID = accountID
      req.locationID = locationID
      req.expectedVersion = expectedVersion
      var mask: [String] = []
      if let name { req.location.name = name; mask.append("name") }
      if let posCode { req.location.posCode = posCode; mask.append("pos_code") }
      if let telehealth { req.location.telehealth = telehealth; mask.append("telehealth") }
      if makeDefault { req.location.isDefault = true; mask.append("is_default") }
      var a = Practice_V1_Address()
      address.options.apply(to: &a, field: "address", mask: &mask)
      if !address.options.isEmpty { req.location.address = a }
      guard !mask.isEmpty else { throw ValidationError("nothing to change") }
      req.updateMask = mask
      let resp = try await connection.run { c, o in try await c.locations.updateLocation(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      LocationCommand.table([resp.location])
    }
  }

  struct Archive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Archive a location (never deleted).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var locationID: String
    @Option var expectedVersion: Int64 = 0

    func run() async throws {
      var req = Practice_V1_ArchiveLocationRequest()
      req.accountID = accountID
      req.locationID = locationID
      req.expectedVersion = expectedVersion
      let resp = try await connection.run { c, o in try await c.locations.archiveLocation(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      LocationCommand.table([resp.location])
    }
  }

  struct Unarchive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make an archived location active again.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var locationID: String
    @Option var expectedVersion: Int64 = 0

    func run() async throws {
      var req = Practice_V1_UnarchiveLocationRequest()
      req.accountID = accountID
      req.locationID = locationID
      req.expectedVersion = expectedVersion
      let resp = try await connection.run { c, o in try await c.locations.unarchiveLocation(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      LocationCommand.table([resp.location])
    }
  }
}

struct PosCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pos", abstract: "CMS Place of Service codes.", subcommands: [List.self, Resolve.self])

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the codes (active ones unless asked).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Flag var includeUnassigned = false

    func run() async throws {
      var req = Practice_V1_ListPlaceOfServiceCodesRequest()
      req.accountID = accountID
      req.includeUnassigned = includeUnassigned
      let resp = try await connection.run { c, o in try await c.locations.listPlaceOfServiceCodes(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      Output.table(["CODE", "NAME", "EFFECTIVE", "ACTIVE"], resp.codes.map {
        [$0.code, $0.name, $0.effectiveFrom.isEmpty ? "always" : $0.effectiveFrom, $0.active ? "yes" : "no"]
      })
    }
  }

  struct Resolve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The POS code to bill for a visit, and the rule that decided.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(name: .customLong("location"), help: "The location of the visit.") var locationID: String
    @Option(help: "Date of service, YYYY-MM-DD (the account's zone).") var date: String
    @Option(help: "The payer id (its POS rule applies to telehealth).") var payer: String = ""
    @Flag(help: "The patient is at home.") var atHome = false

    func run() async throws {
      var req = Practice_V1_ResolvePlaceOfServiceRequest()
      req.accountID = accountID
      req.locationID = locationID
      req.dateOfService = date
      req.payerID = payer
      req.patientAtHome = atHome
      let resp = try await connection.run { c, o in try await c.locations.resolvePlaceOfService(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      let by = resp.decidedBy == .payerRule ? "PAYER_RULE (\(resp.payerID))" : Names.posDecision(resp.decidedBy)
      Output.fields([("pos_code", resp.posCode), ("name", resp.code.name), ("decided_by", by)])
    }
  }
}

struct PayerRuleCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "payer-rule", abstract: "Per-payer POS rules for telehealth.", subcommands: [Set.self, List.self, Delete.self])

  static func table(_ rules: [Practice_V1_PayerPosRule]) {
    Output.table(["PAYER", "NAME", "HOME", "NOT HOME", "VERSION"], rules.map {
      [$0.payerID, $0.payerName, $0.homePosCode, $0.notHomePosCode, "\($0.version)"]
    })
  }

  struct Set: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or replace a payer's rule.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var payerID: String
    @Option var name: String
    @Option(help: "POS for telehealth with the patient at home.") var home: String
    @Option(help: "POS for telehealth with the patient not at home.") var notHome: String
    @Option var expectedVersion: Int64 = 0

    func run() async throws {
      var req = Practice_V1_SetPayerPosRuleRequest()
      req.accountID = accountID
      req.rule.payerID = payerID
      req.rule.payerName = name
      req.rule.homePosCode = home
      req.rule.notHomePosCode = notHome
      req.expectedVersion = expectedVersion
      let resp = try await connection.run { c, o in try await c.locations.setPayerPosRule(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      PayerRuleCommand.table([resp.rule])
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List payer rules.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String

    @OptionGroup var paging: PageOptions

    func run() async throws {
      var req = Practice_V1_ListPayerPosRulesRequest()
      req.accountID = accountID
      req.pageSize = paging.pageSize
      req.pageToken = paging.pageToken
      let pages = try await connection.run { c, o in
        try await Output.pages(c.locations.listPayerPosRulesPages(req, options: o), all: paging.all)
      }
      try Output.list(pages, json: connection.json, token: \.nextPageToken) { PayerRuleCommand.table($0.flatMap(\.rules)) }
    }
  }

  struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a payer's rule.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var payerID: String

    func run() async throws {
      var req = Practice_V1_DeletePayerPosRuleRequest()
      req.accountID = accountID
      req.payerID = payerID
      let resp = try await connection.run { c, o in try await c.locations.deletePayerPosRule(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      print("deleted \(payerID)")
    }
  }
}

struct RoomCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "room", abstract: "Rooms.",
    subcommands: [Create.self, Get.self, List.self, Update.self, Archive.self, Unarchive.self])

  static func table(_ rooms: [Practice_V1_Room]) {
    Output.table(["ROOM", "NAME", "LOCATIONS", "ARCHIVED", "VERSION"], rooms.map {
      [$0.roomID, $0.name, $0.locationIds.joined(separator: ","), $0.archived ? "yes" : "no", "\($0.version)"]
    })
  }

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a room (accounts with more than one active practitioner).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option var name: String
    @Option(help: "A location the room applies to (repeatable).") var location: [String] = []

    func run() async throws {
      var req = Practice_V1_CreateRoomRequest()
      req.accountID = accountID
      req.room.name = name
      req.room.locationIds = location
      let resp = try await connection.run { c, o in try await c.rooms.createRoom(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      RoomCommand.table([resp.room])
    }
  }

  struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a room.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var roomID: String

    func run() async throws {
      var req = Practice_V1_GetRoomRequest()
      req.accountID = accountID
      req.roomID = roomID
      let resp = try await connection.run { c, o in try await c.rooms.getRoom(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      RoomCommand.table([resp.room])
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List rooms.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(help: "Only rooms of this location.") var location: String = ""
    @Flag var includeArchived = false
    @OptionGroup var paging: PageOptions

    func run() async throws {
      var req = Practice_V1_ListRoomsRequest()
      req.accountID = accountID
      req.locationID = location
      req.includeArchived = includeArchived
      req.pageSize = paging.pageSize
      req.pageToken = paging.pageToken
      let pages = try await connection.run { c, o in
        try await Output.pages(c.rooms.listRoomsPages(req, options: o), all: paging.all)
      }
      try Output.list(pages, json: connection.json, token: \.nextPageToken) { RoomCommand.table($0.flatMap(\.rooms)) }
    }
  }

  struct Update: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rename a room or change its locations.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var roomID: String
    @Option var name: String?
    @Option(help: "The complete new set of locations (repeatable).") var location: [String] = []
    @Option var expectedVersion: Int64 = 0

    func run() async throws {
      var req = Practice_V1_UpdateRoomRequest()
      req.accountID = accountID
      req.roomID = roomID
      req.expectedVersion = expectedVersion
      if let name { req.room.name = name; req.updateMask.append("name") }
      if !location.isEmpty { req.room.locationIds = location; req.updateMask.append("location_ids") }
      guard !req.updateMask.isEmpty else { throw ValidationError("nothing to change") }
      let resp = try await connection.run { c, o in try await c.rooms.updateRoom(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      RoomCommand.table([resp.room])
    }
  }

  struct Archive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Archive a room (refused while it has future bookings).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var roomID: String

    func run() async throws {
      var req = Practice_V1_ArchiveRoomRequest()
      req.accountID = accountID
      req.roomID = roomID
      let resp = try await connection.run { c, o in try await c.rooms.archiveRoom(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      RoomCommand.table([resp.room])
    }
  }

  struct Unarchive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make an archived room bookable again.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var roomID: String

    func run() async throws {
      var req = Practice_V1_UnarchiveRoomRequest()
      req.accountID = accountID
      req.roomID = roomID
      let resp = try await connection.run { c, o in try await c.rooms.unarchiveRoom(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      RoomCommand.table([resp.room])
    }
  }
}

struct BookingCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "booking", abstract: "Room bookings.",
    subcommands: [Create.self, Move.self, Cancel.self, List.self, Check.self])

  static func table(_ bs: [Practice_V1_RoomBooking], _ t: TimeDisplay) {
    Output.table(["BOOKING", t.header("START"), "END", "PRACTITIONER", "STATUS", "SERIES", "OVERRIDDEN"], bs.map {
      [$0.bookingID, t.show($0.startMs), t.show($0.endMs), $0.practitionerUserID,
       $0.status == .active ? "ACTIVE" : "CANCELLED", $0.seriesID.isEmpty ? "-" : "\($0.seriesID)#\($0.occurrence)",
       $0.overridden ? "yes" : "no"]
    })
  }

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Book a room, optionally weekly; --override books over conflicts (policy WARN).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option var room: String
    @Option var location: String
    @Option var practitioner: String
    @Option(help: "Start: ISO 8601 or Unix ms.") var start: String
    @Option(help: "End: ISO 8601 or Unix ms.") var end: String
    @Option(help: "Weekly occurrences (1-104).") var weekly: Int32?
    @Option(help: "With --weekly: every N weeks (1-4; 2 is every other week).") var everyWeeks: Int32?
    @Option var appointmentRef: String = ""
    @Flag var override = false

    func run() async throws {
      var req = Practice_V1_BookRoomRequest()
      req.accountID = accountID
      req.roomID = room
      req.locationID = location
      req.practitionerUserID = practitioner
      req.appointmentRef = appointmentRef
      req.override = override
      if let weekly {
        var w = Practice_V1_WeeklyRecurrence()
        w.occurrences = weekly
        w.intervalWeeks = everyWeeks ?? 0
        req.weekly = w
      }
      let (resp, t) = try await connection.run { c, o in
        let t = try await TimeDisplay.of(accountID, c, o, utc: connection.utc)
        req.startMs = try t.parse(start, "start")
        req.endMs = try t.parse(end, "end")
        return (try await c.rooms.bookRoom(req, options: o), t)
      }
      if connection.json { print(Output.json(resp)); return }
      BookingCommand.table(resp.bookings, t)
      if !resp.overriddenConflicts.isEmpty {
        print("overrode \(resp.overriddenConflicts.count) conflicting booking(s):")
        BookingCommand.table(resp.overriddenConflicts, t)
      }
    }
  }

  struct Move: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Move a booking, or it and the rest of its series, to another time and/or room in one step.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var bookingID: String
    @Option(help: "New start: ISO 8601 or Unix ms (default: unchanged).") var start: String?
    @Option(help: "New end: ISO 8601 or Unix ms (default: the same length).") var end: String?
    @Option(help: "Another room.") var room: String?
    @Option(help: "Another location of the room.") var location: String?
    @Flag(help: "Move this occurrence and every later one of its series.") var restOfSeries = false
    @Flag var override = false

    func run() async throws {
      var req = Practice_V1_MoveRoomBookingRequest()
      req.accountID = accountID
      req.bookingID = bookingID
      req.roomID = room ?? ""
      req.locationID = location ?? ""
      req.restOfSeries = restOfSeries
      req.override = override
      let (resp, t) = try await connection.run { c, o in
        let t = try await TimeDisplay.of(accountID, c, o, utc: connection.utc)
        if let start { req.startMs = try t.parse(start, "start") }
        if let end { req.endMs = try t.parse(end, "end") }
        return (try await c.rooms.moveRoomBooking(req, options: o), t)
      }
      if connection.json { print(Output.json(resp)); return }
      BookingCommand.table(resp.bookings, t)
      if !resp.overriddenConflicts.isEmpty {
        print("overrode \(resp.overriddenConflicts.count) conflicting booking(s):")
        BookingCommand.table(resp.overriddenConflicts, t)
      }
    }
  }

  struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a booking, or the rest of its series.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Argument var bookingID: String
    @Flag var restOfSeries = false

    func run() async throws {
      var req = Practice_V1_CancelRoomBookingRequest()
      req.accountID = accountID
      req.bookingID = bookingID
      req.restOfSeries = restOfSeries
      let (resp, t) = try await connection.run { c, o in
        (try await c.rooms.cancelRoomBooking(req, options: o), try await TimeDisplay.of(accountID, c, o, utc: connection.utc))
      }
      if connection.json { print(Output.json(resp)); return }
      BookingCommand.table(resp.cancelled, t)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a room's bookings in a time range.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(name: .customLong("room"), help: "The room.") var roomID: String
    @Option var from: String?
    @Option var to: String?
    @Flag var includeCancelled = false
    @OptionGroup var paging: PageOptions

    func run() async throws {
      var req = Practice_V1_ListRoomBookingsRequest()
      req.accountID = accountID
      req.roomID = roomID
      req.includeCancelled = includeCancelled
      req.pageSize = paging.pageSize
      req.pageToken = paging.pageToken
      let (pages, t) = try await connection.run { c, o in
        let t = try await TimeDisplay.of(accountID, c, o, utc: connection.utc)
        req.fromMs = try from.map { try t.parse($0, "from") } ?? 0
        req.toMs = try to.map { try t.parse($0, "to") } ?? 0
        return (try await Output.pages(c.rooms.listRoomBookingsPages(req, options: o), all: paging.all), t)
      }
      try Output.list(pages, json: connection.json, token: \.nextPageToken) { BookingCommand.table($0.flatMap(\.bookings), t) }
    }
  }

  struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Whether a proposed booking would conflict, and with what.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account id.", completion: .custom(Completions.accountIDs)) var accountID: String
    @Option(name: .customLong("room"), help: "The room.") var roomID: String
    @Option var start: String
    @Option var end: String
    @Option(help: "Weekly occurrences (1-104).") var weekly: Int32?
    @Option(help: "With --weekly: every N weeks (1-4).") var everyWeeks: Int32?

    func run() async throws {
      var req = Practice_V1_CheckRoomAvailabilityRequest()
      req.accountID = accountID
      req.roomID = roomID
      if let weekly {
        var w = Practice_V1_WeeklyRecurrence()
        w.occurrences = weekly
        w.intervalWeeks = everyWeeks ?? 0
        req.weekly = w
      }
      let (resp, t) = try await connection.run { c, o in
        let t = try await TimeDisplay.of(accountID, c, o, utc: connection.utc)
        req.startMs = try t.parse(start, "start")
        req.endMs = try t.parse(end, "end")
        return (try await c.rooms.checkRoomAvailability(req, options: o), t)
      }
      if connection.json { print(Output.json(resp)); return }
      print(resp.available ? "available" : "conflicts with \(resp.conflicts.count) booking(s):")
      if !resp.available { BookingCommand.table(resp.conflicts, t) }
    }
  }
}
