"""The Python client against live daemons (clients/python/run-tests.sh starts them):
PRACTICED_SOCKET (this user an operator), PRACTICED_PID (stopped and continued by the deadline test),
PRACTICED_IDLE_SOCKET (a daemon that closes idle connections after 0.5 s)."""

import os
import signal
import threading
import time
import unittest

import practiceclient
from practice.v1 import account_pb2, business_pb2, claim_pb2, location_pb2, watch_pb2
from practiceclient import RPCError, StatusCode


class ClientTests(unittest.TestCase):
    def setUp(self):
        self.conn = practiceclient.connect()
        self.accounts = practiceclient.AccountService(self.conn)
        created = self.accounts.CreateAccount(account_pb2.CreateAccountRequest(
            practice_name="Python Clinic", owner_name="Casey", owner_roles=[account_pb2.ROLE_PRACTITIONER]))
        self.account = created.account.account_id
        self.owner = created.owner.user_id

    def tearDown(self):
        self.conn.close()

    def test_unary_typed(self):
        got = self.accounts.GetAccount(account_pb2.GetAccountRequest(account_id=self.account), request_id="py-1")
        self.assertIsInstance(got, account_pb2.GetAccountResponse)
        self.assertEqual(got.account.practice_name, "Python Clinic")
        self.assertEqual(got.account.state, account_pb2.ACCOUNT_STATE_ACTIVE)

    def test_errors(self):
        with self.assertRaises(RPCError) as caught:
            self.accounts.AddUser(account_pb2.AddUserRequest(account_id=self.account, name="", email="nope",
                                                             roles=[account_pb2.ROLE_BILLER]))
        e = caught.exception
        self.assertEqual(e.code, StatusCode.INVALID_ARGUMENT)
        self.assertEqual(e.reason, "VALIDATION_FAILED")
        self.assertEqual({f for f, _ in e.violations}, {"name", "email"})
        with self.assertRaises(RPCError) as caught:
            self.accounts.GetAccount(account_pb2.GetAccountRequest(account_id="acct_missing"))
        self.assertEqual(caught.exception.code, StatusCode.NOT_FOUND)
        # A method the daemon does not serve.
        with self.assertRaises(RPCError) as caught:
            self.conn.unary("/practice.v1.AccountService/Nope", account_pb2.GetAccountRequest(),
                            account_pb2.GetAccountResponse)
        self.assertEqual(caught.exception.code, StatusCode.UNIMPLEMENTED)

    def test_pipelined_from_threads(self):
        business = practiceclient.BusinessService(self.conn)
        errors, names = [], []

        def work(i):
            try:
                req = business_pb2.UpdateBusinessInfoRequest(account_id=self.account, update_mask=["legal_name"])
                req.business_info.legal_name = f"Legal {i}"
                business.UpdateBusinessInfo(req)
                got = business.GetBusinessInfo(business_pb2.GetBusinessInfoRequest(account_id=self.account))
                names.append(got.business_info.legal_name)
            except Exception as e:  # noqa: BLE001 - collected for the assertion
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(names), 16)
        self.assertTrue(all(n.startswith("Legal ") for n in names))

    def test_streams(self):
        chunks = list(self.accounts.ExportAccount(account_pb2.ExportAccountRequest(account_id=self.account)))
        self.assertGreaterEqual(len(chunks), 1)
        counts = {c.kind: c.count for c in chunks[-1].counts}
        self.assertEqual(counts["users"], 1)
        # Leaving a stream early cancels it; the connection goes on.
        watch = practiceclient.WatchService(self.conn)
        for event in watch.Watch(watch_pb2.WatchRequest(account_id=self.account, after_sequence=1)):
            self.assertTrue(event.HasField("change") or event.synced)
            break
        self.assertEqual(self.accounts.GetAccount(account_pb2.GetAccountRequest(account_id=self.account))
                         .account.account_id, self.account)

    def test_pages_and_claim_profile(self):
        for i in range(4):
            self.accounts.AddUser(account_pb2.AddUserRequest(account_id=self.account, name=f"User {i}",
                                                             roles=[account_pb2.ROLE_SCHEDULER]))
        request = account_pb2.ListUsersRequest(account_id=self.account, page_size=2)
        sizes = [len(p.users) for p in practiceclient.pages(self.accounts.ListUsers, request)]
        self.assertEqual(sizes, [2, 2, 1])
        self.assertEqual(request.page_token, "")  # the caller's request is left as it was

        location = location_pb2.Location(name="Video visits", telehealth=True)
        loc = practiceclient.LocationService(self.conn).CreateLocation(
            location_pb2.CreateLocationRequest(account_id=self.account, location=location)).location
        profile = practiceclient.ClaimService(self.conn).ResolveClaimProfile(claim_pb2.ResolveClaimProfileRequest(
            account_id=self.account, location_id=loc.location_id, rendering_user_id=self.owner,
            date_of_service="2026-03-02", patient_at_home=True))
        self.assertFalse(profile.ready)
        self.assertEqual(profile.place_of_service.pos_code, "10")
        self.assertIn("NPI_MISSING", {p.reason for p in profile.problems})

    def test_deadline_of_a_stopped_daemon(self):
        pid = int(os.environ["PRACTICED_PID"])
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with self.assertRaises(RPCError) as caught:
                self.accounts.GetAccount(account_pb2.GetAccountRequest(account_id=self.account), timeout=0.3)
            waited = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
        self.assertEqual(caught.exception.code, StatusCode.DEADLINE_EXCEEDED)
        self.assertLess(waited, 3.0)
        # The connection is still usable once the daemon runs again (the late answer is dropped).
        got = self.accounts.GetAccount(account_pb2.GetAccountRequest(account_id=self.account), timeout=5)
        self.assertEqual(got.account.account_id, self.account)


class IdleTests(unittest.TestCase):
    def test_closed_by_the_daemon(self):
        with practiceclient.connect(os.environ["PRACTICED_IDLE_SOCKET"]) as conn:
            time.sleep(1.5)
            with self.assertRaises(practiceclient.ConnectionClosed) as caught:
                practiceclient.Health(conn).Check()
            self.assertIsNotNone(caught.exception.status)
            self.assertEqual(caught.exception.status.reason, "IDLE_TIMEOUT")

    def test_unreachable(self):
        with self.assertRaises(OSError):
            practiceclient.connect(os.environ["PRACTICED_IDLE_SOCKET"] + ".missing")


if __name__ == "__main__":
    unittest.main()
