import ArgumentParser
import Foundation
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeWire

/// A time given as ISO 8601 (`2030-01-07T10:00:00-05:00`) or Unix milliseconds.
func parseTime(_ text: String, _ name: String) throws -> Int64 {
  if let ms = Int64(text) { return ms }
  let f = ISO8601DateFormatter()
  if let d = f.date(from: text) { return Int64(d.timeIntervalSince1970 * 1000) }
  f.formatOptions.insert(.withFractionalSeconds)
  if let d = f.date(from: text) { return Int64(d.timeIntervalSince1970 * 1000) }
  throw ValidationError("--\(name): not an ISO 8601 time or Unix milliseconds: \(text)")
}

struct PlainAddressOptions: ParsableArguments {
  @Option(help: "Street line 1.") var line1: String?
  @Option(help: "Street line 2.") var line2: String?
  @Option(help: "City.") var city: String?
  @Option(help: "USPS state code.") var state: String?
  @Option(help: "ZIP (5 or 9 digits).") var zip: String?

  var isEmpty: Bool { [line1, line2, city, state, zip].allSatisfy { $0 == nil } }

  func apply(to a: inout Practice_V1_Address, mask: inout [String]) {
    if let line1 { a.line1 = line1; mask.append("address.line1") }
    if let line2 { a.line2 = line2; mask.append("address.line2") }
    if let city { a.city = city; mask.append("address.city") }
    if let state { a.state = state; mask.append("address.state") }
    if let zip { a.zip = zip; mask.append("address.zip") }
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
    @Argument var accountID: String
    @Option var name: String
    @Option(help: "Two-digit CMS Place of Service code (telehealth default: 02).") var posCode: String = ""
    @Flag(help: "A telehealth location (address optional).") var telehealth = false
    @Flag(name: .customLong("default"), help: "Make it the default location.") var makeDefault = false
    @OptionGroup var address: PlainAddressOptions

    func run() async throws {
      var req = Practice_V1_CreateLocationRequest()
      req.accountID = accountID
      req.location.name = name
      req.location.posCode = posCode
      req.location.telehealth = telehealth
      req.location.isDefault = makeDefault
      if !address.isEmpty {
        var a = Practice_V1_Address()
        var ignored: [String] = []
        address.apply(to: &a, mask: &ignored)
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
    @Argument var accountID: String
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
    @Argument var accountID: String
    @Flag var includeArchived = false

    func run() async throws {
      var req = Practice_V1_ListLocationsRequest()
      req.accountID = accountID
      req.includeArchived = includeArchived
      req.pageSize = 500
      let all = try await connection.run { c, o in
        var out: [Practice_V1_Location] = []
        repeat {
          let page = try await c.locations.listLocations(req, options: o)
          out += page.locations
          req.pageToken = page.nextPageToken
        } while !req.pageToken.isEmpty
        return out
      }
      if connection.json {
        var resp = Practice_V1_ListLocationsResponse()
        resp.locations = all
        print(Output.json(resp))
        return
      }
      LocationCommand.table(all)
    }
  }

  struct Update: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Change a location: each option given is changed.")
    @OptionGroup var connection: ConnectionOptions
    @Argument var accountID: String
    @Argument var locationID: String
    @Option var name: String?
    @Option var posCode: String?
    @Option(help: "true or false.") var telehealth: Bool?
    @Flag(name: .customLong("make-default"), help: "Make it the default location.") var makeDefault = false
    @OptionGroup var address: PlainAddressOptions
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
      address.apply(to: &a, mask: &mask)
      if !address.isEmpty { req.location.address = a }
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
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
    @Argument var locationID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String

    func run() async throws {
      var req = Practice_V1_ListPayerPosRulesRequest()
      req.accountID = accountID
      req.pageSize = 500
      let resp = try await connection.run { c, o in try await c.locations.listPayerPosRules(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      PayerRuleCommand.table(resp.rules)
    }
  }

  struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a payer's rule.")
    @OptionGroup var connection: ConnectionOptions
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
    @Option(help: "Only rooms of this location.") var location: String = ""
    @Flag var includeArchived = false

    func run() async throws {
      var req = Practice_V1_ListRoomsRequest()
      req.accountID = accountID
      req.locationID = location
      req.includeArchived = includeArchived
      req.pageSize = 500
      let resp = try await connection.run { c, o in try await c.rooms.listRooms(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      RoomCommand.table(resp.rooms)
    }
  }

  struct Update: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rename a room or change its locations.")
    @OptionGroup var connection: ConnectionOptions
    @Argument var accountID: String
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
    @Argument var accountID: String
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
    @Argument var accountID: String
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

  static func table(_ bs: [Practice_V1_RoomBooking]) {
    Output.table(["BOOKING", "START", "END", "PRACTITIONER", "STATUS", "SERIES", "OVERRIDDEN"], bs.map {
      [$0.bookingID, Output.time($0.startMs), Output.time($0.endMs), $0.practitionerUserID,
       $0.status == .active ? "ACTIVE" : "CANCELLED", $0.seriesID.isEmpty ? "-" : "\($0.seriesID)#\($0.occurrence)",
       $0.overridden ? "yes" : "no"]
    })
  }

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Book a room, optionally weekly; --override books over conflicts (policy WARN).")
    @OptionGroup var connection: ConnectionOptions
    @Argument var accountID: String
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
      req.startMs = try parseTime(start, "start")
      req.endMs = try parseTime(end, "end")
      req.appointmentRef = appointmentRef
      req.override = override
      if let weekly {
        var w = Practice_V1_WeeklyRecurrence()
        w.occurrences = weekly
        w.intervalWeeks = everyWeeks ?? 0
        req.weekly = w
      }
      let resp = try await connection.run { c, o in try await c.rooms.bookRoom(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      BookingCommand.table(resp.bookings)
      if !resp.overriddenConflicts.isEmpty {
        print("overrode \(resp.overriddenConflicts.count) conflicting booking(s):")
        BookingCommand.table(resp.overriddenConflicts)
      }
    }
  }

  struct Move: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Move a booking, or it and the rest of its series, to another time and/or room in one step.")
    @OptionGroup var connection: ConnectionOptions
    @Argument var accountID: String
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
      if let start { req.startMs = try parseTime(start, "start") }
      if let end { req.endMs = try parseTime(end, "end") }
      req.roomID = room ?? ""
      req.locationID = location ?? ""
      req.restOfSeries = restOfSeries
      req.override = override
      let resp = try await connection.run { c, o in try await c.rooms.moveRoomBooking(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      BookingCommand.table(resp.bookings)
      if !resp.overriddenConflicts.isEmpty {
        print("overrode \(resp.overriddenConflicts.count) conflicting booking(s):")
        BookingCommand.table(resp.overriddenConflicts)
      }
    }
  }

  struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a booking, or the rest of its series.")
    @OptionGroup var connection: ConnectionOptions
    @Argument var accountID: String
    @Argument var bookingID: String
    @Flag var restOfSeries = false

    func run() async throws {
      var req = Practice_V1_CancelRoomBookingRequest()
      req.accountID = accountID
      req.bookingID = bookingID
      req.restOfSeries = restOfSeries
      let resp = try await connection.run { c, o in try await c.rooms.cancelRoomBooking(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      BookingCommand.table(resp.cancelled)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a room's bookings in a time range.")
    @OptionGroup var connection: ConnectionOptions
    @Argument var accountID: String
    @Argument var roomID: String
    @Option var from: String?
    @Option var to: String?
    @Flag var includeCancelled = false

    func run() async throws {
      var req = Practice_V1_ListRoomBookingsRequest()
      req.accountID = accountID
      req.roomID = roomID
      req.fromMs = try from.map { try parseTime($0, "from") } ?? 0
      req.toMs = try to.map { try parseTime($0, "to") } ?? 0
      req.includeCancelled = includeCancelled
      req.pageSize = 500
      let resp = try await connection.run { c, o in try await c.rooms.listRoomBookings(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      BookingCommand.table(resp.bookings)
    }
  }

  struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Whether a proposed booking would conflict, and with what.")
    @OptionGroup var connection: ConnectionOptions
    @Argument var accountID: String
    @Argument var roomID: String
    @Option var start: String
    @Option var end: String
    @Option(help: "Weekly occurrences (1-104).") var weekly: Int32?
    @Option(help: "With --weekly: every N weeks (1-4).") var everyWeeks: Int32?

    func run() async throws {
      var req = Practice_V1_CheckRoomAvailabilityRequest()
      req.accountID = accountID
      req.roomID = roomID
      req.startMs = try parseTime(start, "start")
      req.endMs = try parseTime(end, "end")
      if let weekly {
        var w = Practice_V1_WeeklyRecurrence()
        w.occurrences = weekly
        w.intervalWeeks = everyWeeks ?? 0
        req.weekly = w
      }
      let resp = try await connection.run { c, o in try await c.rooms.checkRoomAvailability(req, options: o) }
      if connection.json { print(Output.json(resp)); return }
      print(resp.available ? "available" : "conflicts with \(resp.conflicts.count) booking(s):")
      if !resp.available { BookingCommand.table(resp.conflicts) }
    }
  }
}
