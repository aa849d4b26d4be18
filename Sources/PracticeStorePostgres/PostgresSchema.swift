/// The PostgreSQL schema, as numbered migrations. Never edit a migration that has shipped: add one.
///
/// The same tables as the SQLite backend's, with what many instances need on top:
/// - ids `COLLATE "C"`: paging compares bytes, as SQLite does;
/// - `room_bookings_no_overlap`: an exclusion constraint (btree_gist) on a room's active,
///   not-overridden bookings, checked at commit (a series moved one booking at a time passes
///   through overlaps with itself);
/// - the audit log append-only by trigger (and by the daemon role's grants, docs/OPERATIONS.md);
/// - `practiced_meta`: the application id and the schema version.
import Foundation

enum PostgresSchema {
  /// `practiced_meta.application_id` of a practiced database.
  static let applicationID = "practiced"

  /// A migration's statements: each ends with `;` at the end of a line (a semicolon inside a
  /// function's body never does).
  static func statements(_ migration: String) -> [String] {
    migration.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
      .filter { !$0.isEmpty }
  }

  static let migrations: [String] = [
    // 1
    """
    CREATE EXTENSION IF NOT EXISTS btree_gist;
    CREATE TABLE accounts (
      id text COLLATE "C" PRIMARY KEY,
      state bigint NOT NULL,
      created_at_ms bigint NOT NULL,
      version bigint NOT NULL,
      change_seq bigint NOT NULL DEFAULT 0,   -- the account's change sequence
      body bytea NOT NULL                     -- practice.v1.Account
    );
    CREATE TABLE users (
      account_id text COLLATE "C" NOT NULL REFERENCES accounts(id),
      id text COLLATE "C" NOT NULL,
      email_key text COLLATE "C",             -- lower-cased email while active, else NULL
      active boolean NOT NULL,
      version bigint NOT NULL,
      body bytea NOT NULL,                    -- practice.v1.User
      PRIMARY KEY (account_id, id)
    );
    CREATE UNIQUE INDEX users_active_email ON users(account_id, email_key) WHERE email_key IS NOT NULL;
    CREATE TABLE audit_events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      account_id text COLLATE "C" NOT NULL,
      time_ms bigint NOT NULL,
      actor_user_id text COLLATE "C" NOT NULL,
      method text COLLATE "C" NOT NULL,
      resource_id text COLLATE "C" NOT NULL,
      body bytea NOT NULL,                    -- practice.v1.AuditEvent (secrets masked)
      before_type text, before_pb bytea, after_type text, after_pb bytea
    );
    CREATE INDEX audit_by_account_time ON audit_events(account_id, time_ms, id);
    CREATE INDEX audit_by_account_id ON audit_events(account_id, id);
    CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
    CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
    CREATE TABLE change_events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      account_id text COLLATE "C" NOT NULL,
      sequence bigint NOT NULL,
      body bytea NOT NULL,                    -- practice.v1.ChangeEvent
      UNIQUE (account_id, sequence)
    );
    CREATE TABLE idempotency (
      scope text COLLATE "C" NOT NULL,
      key text COLLATE "C" NOT NULL,
      method text NOT NULL,
      request bytea,
      response bytea NOT NULL,                -- practice.rpc.v1.Response
      created_at_ms bigint NOT NULL,
      PRIMARY KEY (scope, key)
    );
    CREATE INDEX idempotency_by_age ON idempotency(created_at_ms);
    CREATE TABLE business_info (
      account_id text COLLATE "C" PRIMARY KEY REFERENCES accounts(id),
      version bigint NOT NULL,
      body bytea NOT NULL                     -- practice.v1.BusinessInfo
    );
    CREATE TABLE locations (
      account_id text COLLATE "C" NOT NULL REFERENCES accounts(id),
      id text COLLATE "C" NOT NULL,
      archived boolean NOT NULL,
      is_default boolean NOT NULL,
      version bigint NOT NULL,
      body bytea NOT NULL,                    -- practice.v1.Location
      PRIMARY KEY (account_id, id)
    );
    CREATE UNIQUE INDEX locations_one_default ON locations(account_id) WHERE is_default AND NOT archived;
    CREATE TABLE payer_pos_rules (
      account_id text COLLATE "C" NOT NULL REFERENCES accounts(id),
      payer_id text COLLATE "C" NOT NULL,
      version bigint NOT NULL,
      body bytea NOT NULL,                    -- practice.v1.PayerPosRule
      PRIMARY KEY (account_id, payer_id)
    );
    CREATE TABLE rooms (
      account_id text COLLATE "C" NOT NULL REFERENCES accounts(id),
      id text COLLATE "C" NOT NULL,
      archived boolean NOT NULL,
      version bigint NOT NULL,
      body bytea NOT NULL,                    -- practice.v1.Room
      PRIMARY KEY (account_id, id)
    );
    CREATE TABLE room_bookings (
      id text COLLATE "C" PRIMARY KEY,
      account_id text COLLATE "C" NOT NULL REFERENCES accounts(id),
      room_id text COLLATE "C" NOT NULL,
      start_ms bigint NOT NULL,
      end_ms bigint NOT NULL,
      status bigint NOT NULL,                 -- 1 active, 2 cancelled
      overridden boolean NOT NULL,            -- booked over a conflict (policy WARN, override)
      series_id text COLLATE "C" NOT NULL,
      occurrence bigint NOT NULL,
      version bigint NOT NULL,
      body bytea NOT NULL,                    -- practice.v1.RoomBooking
      CONSTRAINT room_bookings_no_overlap EXCLUDE USING gist
        (account_id WITH =, room_id WITH =, int8range(start_ms, end_ms) WITH &&)
        WHERE (status = 1 AND NOT overridden) DEFERRABLE INITIALLY DEFERRED
    );
    CREATE INDEX room_bookings_active ON room_bookings USING gist
      (account_id, room_id, int8range(start_ms, end_ms)) WHERE status = 1;
    CREATE INDEX room_bookings_by_room ON room_bookings(account_id, room_id, start_ms, id);
    CREATE INDEX room_bookings_series ON room_bookings(series_id, occurrence) WHERE series_id != '';
    CREATE TABLE subscriptions (
      account_id text COLLATE "C" PRIMARY KEY REFERENCES accounts(id),
      version bigint NOT NULL,
      body bytea NOT NULL                     -- practice.v1.Subscription, with the processor token
    );
    CREATE TABLE usage (
      account_id text COLLATE "C" NOT NULL REFERENCES accounts(id),
      period_start text COLLATE "C" NOT NULL,
      active_clients bigint NOT NULL,
      electronic_claims bigint NOT NULL,
      PRIMARY KEY (account_id, period_start)
    );
    CREATE TABLE invoices (
      account_id text COLLATE "C" NOT NULL,   -- kept after a purge: no REFERENCES
      id text COLLATE "C" NOT NULL,
      number bigint NOT NULL,
      period_start text COLLATE "C" NOT NULL,
      status bigint NOT NULL,
      body bytea NOT NULL,                    -- practice.v1.Invoice (no card data)
      PRIMARY KEY (account_id, id),
      UNIQUE (account_id, period_start),
      UNIQUE (account_id, number)
    );
    CREATE TABLE lifecycle_notices (
      account_id text COLLATE "C" NOT NULL,
      step bigint NOT NULL,
      at_ms bigint NOT NULL,
      days_before bigint NOT NULL,
      sent_at_ms bigint NOT NULL,
      PRIMARY KEY (account_id, step, at_ms, days_before)
    );
    CREATE TABLE health_probe (id bigint PRIMARY KEY CHECK (id = 1), at_ms bigint NOT NULL);
    -- The test clock's offset (--test-hooks), shared by every instance.
    CREATE TABLE test_clock (id bigint PRIMARY KEY CHECK (id = 1), offset_ms bigint NOT NULL);

    """
  ]
}
