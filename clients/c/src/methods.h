/* The methods of proto/ with their protobuf-c descriptors (generated/practice_methods.c, written by
 * scripts/gen-proto), so that a call can check it was given the method's own message types. */
#ifndef PRACTICECLIENT_METHODS_H
#define PRACTICECLIENT_METHODS_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct {
  const char *path;
  const ProtobufCMessageDescriptor *request;
  const ProtobufCMessageDescriptor *response;
  int server_streaming;
} pc_method;

/* Sorted by path (bytewise). */
extern const pc_method pc_methods[];
extern const size_t pc_methods_count;

#endif
