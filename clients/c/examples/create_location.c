/* Creates an account and a service location, reads the location back, and asks for the claim profile
 * of a visit there (ClaimService/ResolveClaimProfile): what the claim's provider part would say and
 * what a payer would reject (a new account has no NPI yet, so it lists problems).
 * Usage: create_location [SOCKET]   (default: $PRACTICED_SOCKET or /run/practiced/practiced.sock)
 * Needs an operator peer (CreateAccount is operator-only). */
#include <stdio.h>
#include <string.h>

#include "practice/v1/account.pb-c.h"
#include "practice/v1/claim.pb-c.h"
#include "practice/v1/location.pb-c.h"
#include "practiceclient.h"

/* Reports a failed call: the library's own failure (rc, with errno for PC_ERR_IO), or the daemon's
 * status with its reason and violations. Returns nonzero when the call failed. */
static int failed(const char *what, int rc, pc_status *s) {
  if (rc != PC_OK) {
    fprintf(stderr, "%s: %s", what, pc_strerror(rc));
    if (rc == PC_ERR_IO) perror("");
    else fputc('\n', stderr);
    pc_status_free(s);
    return 1;
  }
  if (s->code == PC_CODE_OK) return 0;
  fprintf(stderr, "%s: %s (%s): %s\n", what, pc_code_name(s->code), s->reason, s->message);
  for (size_t i = 0; i < s->n_violations; i++)
    fprintf(stderr, "  %s: %s\n", s->violations[i].field, s->violations[i].description);
  pc_status_free(s);
  return 1;
}

int main(int argc, char **argv) {
  pc_client *c = pc_connect(argc > 1 ? argv[1] : NULL);
  if (c == NULL) {
    perror("connect");
    return 69;
  }

  Practice__V1__CreateAccountRequest create = PRACTICE__V1__CREATE_ACCOUNT_REQUEST__INIT;
  create.practice_name = "C Example Clinic";
  create.owner_name = "Casey";
  Practice__V1__Role owner_roles[] = {PRACTICE__V1__ROLE__ROLE_PRACTITIONER};
  create.owner_roles = owner_roles;
  create.n_owner_roles = 1;
  ProtobufCMessage *out = NULL;
  pc_status st;
  if (failed("CreateAccount", pc_call(c, "/practice.v1.AccountService/CreateAccount", &create.base, NULL, 0, 0,
              &practice__v1__create_account_response__descriptor, &out, &st), &st)) return 1;
  pc_status_free(&st);
  Practice__V1__CreateAccountResponse *account = (Practice__V1__CreateAccountResponse *)out;
  char account_id[64], owner_id[64];
  snprintf(account_id, sizeof account_id, "%s", account->account->account_id);
  snprintf(owner_id, sizeof owner_id, "%s", account->owner->user_id);
  protobuf_c_message_free_unpacked(out, NULL);

  Practice__V1__Address address = PRACTICE__V1__ADDRESS__INIT;
  address.line1 = "12 Harbor St";
  address.city = "Boston";
  address.state = "MA";
  address.zip = "02134";
  Practice__V1__Location location = PRACTICE__V1__LOCATION__INIT;
  location.name = "Main office";
  location.pos_code = "11";
  location.address_presence_case = PRACTICE__V1__LOCATION__ADDRESS_PRESENCE_ADDRESS;
  location.address = &address;
  Practice__V1__CreateLocationRequest req = PRACTICE__V1__CREATE_LOCATION_REQUEST__INIT;
  req.account_id = account_id;
  req.location = &location;
  pc_metadata md[] = {{"request-id", "c-example-1"}};
  if (failed("CreateLocation", pc_call(c, "/practice.v1.LocationService/CreateLocation", &req.base, md, 1, 5000,
              &practice__v1__create_location_response__descriptor, &out, &st), &st)) return 1;
  pc_status_free(&st);
  char location_id[64];
  snprintf(location_id, sizeof location_id, "%s", ((Practice__V1__CreateLocationResponse *)out)->location->location_id);
  protobuf_c_message_free_unpacked(out, NULL);

  Practice__V1__GetLocationRequest get = PRACTICE__V1__GET_LOCATION_REQUEST__INIT;
  get.account_id = account_id;
  get.location_id = location_id;
  if (failed("GetLocation", pc_call(c, "/practice.v1.LocationService/GetLocation", &get.base, NULL, 0, 0,
              &practice__v1__get_location_response__descriptor, &out, &st), &st)) return 1;
  pc_status_free(&st);
  Practice__V1__Location *got = ((Practice__V1__GetLocationResponse *)out)->location;
  printf("account %s location %s \"%s\" POS %s default=%d city=%s\n", account_id, got->location_id, got->name,
         got->pos_code, got->is_default, got->address ? got->address->city : "-");
  int ok = strcmp(got->name, "Main office") == 0 && strcmp(got->pos_code, "11") == 0 && got->is_default;
  protobuf_c_message_free_unpacked(out, NULL);

  Practice__V1__ResolveClaimProfileRequest claim = PRACTICE__V1__RESOLVE_CLAIM_PROFILE_REQUEST__INIT;
  claim.account_id = account_id;
  claim.location_id = location_id;
  claim.rendering_user_id = owner_id;
  claim.date_of_service = "2026-03-02";
  if (failed("ResolveClaimProfile", pc_call(c, "/practice.v1.ClaimService/ResolveClaimProfile", &claim.base, NULL, 0, 0,
              &practice__v1__resolve_claim_profile_response__descriptor, &out, &st), &st)) return 1;
  pc_status_free(&st);
  Practice__V1__ResolveClaimProfileResponse *profile = (Practice__V1__ResolveClaimProfileResponse *)out;
  printf("claim profile: POS %s, %s, %zu problems\n", profile->place_of_service->pos_code,
         profile->ready ? "ready" : "not ready", profile->n_problems);
  for (size_t i = 0; i < profile->n_problems; i++)
    printf("  %s %s: %s\n", profile->problems[i]->reason, profile->problems[i]->field, profile->problems[i]->message);
  /* A new account has no NPI: the profile is not ready, and says so. */
  ok = ok && !profile->ready && profile->n_problems > 0 && strcmp(profile->place_of_service->pos_code, "11") == 0;
  protobuf_c_message_free_unpacked(out, NULL);
  pc_close(c);
  return ok ? 0 : 1;
}
