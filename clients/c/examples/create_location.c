/* Creates an account and a service location, and reads the location back.
 * Usage: create_location [SOCKET]   (default: $PRACTICED_SOCKET or /run/practiced/practiced.sock)
 * Needs an operator peer (CreateAccount is operator-only). */
#include <stdio.h>
#include <string.h>

#include "practice/v1/account.pb-c.h"
#include "practice/v1/location.pb-c.h"
#include "practiceclient.h"

static void print_status(const char *what, const pc_status *s) {
  fprintf(stderr, "%s: %s (%s): %s\n", what, pc_code_name(s->code), s->reason, s->message);
  for (size_t i = 0; i < s->n_violations; i++)
    fprintf(stderr, "  %s: %s\n", s->violations[i].field, s->violations[i].description);
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
  ProtobufCMessage *out = NULL;
  pc_status st;
  if (pc_call(c, "/practice.v1.AccountService/CreateAccount", &create.base, NULL, 0, 0,
              &practice__v1__create_account_response__descriptor, &out, &st) != PC_OK || st.code != 0) {
    print_status("CreateAccount", &st);
    return 1;
  }
  pc_status_free(&st);
  Practice__V1__CreateAccountResponse *account = (Practice__V1__CreateAccountResponse *)out;
  char account_id[64];
  snprintf(account_id, sizeof account_id, "%s", account->account->account_id);
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
  if (pc_call(c, "/practice.v1.LocationService/CreateLocation", &req.base, md, 1, 5000,
              &practice__v1__create_location_response__descriptor, &out, &st) != PC_OK || st.code != 0) {
    print_status("CreateLocation", &st);
    return 1;
  }
  pc_status_free(&st);
  char location_id[64];
  snprintf(location_id, sizeof location_id, "%s", ((Practice__V1__CreateLocationResponse *)out)->location->location_id);
  protobuf_c_message_free_unpacked(out, NULL);

  Practice__V1__GetLocationRequest get = PRACTICE__V1__GET_LOCATION_REQUEST__INIT;
  get.account_id = account_id;
  get.location_id = location_id;
  if (pc_call(c, "/practice.v1.LocationService/GetLocation", &get.base, NULL, 0, 0,
              &practice__v1__get_location_response__descriptor, &out, &st) != PC_OK || st.code != 0) {
    print_status("GetLocation", &st);
    return 1;
  }
  pc_status_free(&st);
  Practice__V1__Location *got = ((Practice__V1__GetLocationResponse *)out)->location;
  printf("account %s location %s \"%s\" POS %s default=%d city=%s\n", account_id, got->location_id, got->name,
         got->pos_code, got->is_default, got->address ? got->address->city : "-");
  int ok = strcmp(got->name, "Main office") == 0 && strcmp(got->pos_code, "11") == 0 && got->is_default;
  protobuf_c_message_free_unpacked(out, NULL);
  pc_close(c);
  return ok ? 0 : 1;
}
