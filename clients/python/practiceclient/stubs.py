"""Typed stubs of every service, built from the generated descriptors: one method per RPC, named as
in proto/ (`AccountService(conn).GetAccount(request)`), taking that method's request message and
returning its response message (or, for a server-streaming method, an iterator of its items)."""

from practice.rpc.v1 import rpc_pb2
from practice.v1 import (account_pb2, audit_pb2, billing_pb2, business_pb2, claim_pb2, common_pb2, location_pb2,
                         room_pb2, watch_pb2)

_MODULES = {m.DESCRIPTOR.name: m for m in (rpc_pb2, account_pb2, audit_pb2, billing_pb2, business_pb2, claim_pb2,
                                           common_pb2, location_pb2, room_pb2, watch_pb2)}


def _message_class(descriptor):
    return getattr(_MODULES[descriptor.file.name], descriptor.name)


def _server_streaming(method):
    streaming = getattr(method, "server_streaming", None)
    if streaming is None:
        from google.protobuf import descriptor_pb2
        proto = descriptor_pb2.MethodDescriptorProto()
        method.CopyToProto(proto)
        streaming = proto.server_streaming
    return bool(streaming)


def _stub(module, service_name):
    service = module.DESCRIPTOR.services_by_name[service_name]

    def make(method):
        path = f"/{service.full_name}/{method.name}"
        request_type = _message_class(method.input_type)
        response_type = _message_class(method.output_type)
        streaming = _server_streaming(method)
        if streaming:
            def call(self, request=None, **options):
                return self._conn.stream(path, request if request is not None else request_type(), response_type, **options)
        else:
            def call(self, request=None, **options):
                return self._conn.unary(path, request if request is not None else request_type(), response_type, **options)
        call.__name__ = method.name
        call.__qualname__ = f"{service_name}.{method.name}"
        call.__doc__ = (f"{path}: {request_type.DESCRIPTOR.full_name} -> "
                        f"{'stream ' if streaming else ''}{response_type.DESCRIPTOR.full_name}. "
                        "Options: actor, request_id, timeout (seconds), metadata; idempotency_key for unary calls.")
        return call

    namespace = {"__init__": lambda self, conn: setattr(self, "_conn", conn),
                 "__doc__": f"Typed calls of {service.full_name}."}
    for method in service.methods:
        namespace[method.name] = make(method)
    return type(service_name, (), namespace)


AccountService = _stub(account_pb2, "AccountService")
BusinessService = _stub(business_pb2, "BusinessService")
LocationService = _stub(location_pb2, "LocationService")
RoomService = _stub(room_pb2, "RoomService")
BillingService = _stub(billing_pb2, "BillingService")
ClaimService = _stub(claim_pb2, "ClaimService")
AuditService = _stub(audit_pb2, "AuditService")
WatchService = _stub(watch_pb2, "WatchService")
Reflection = _stub(rpc_pb2, "Reflection")
Health = _stub(rpc_pb2, "Health")
Metrics = _stub(rpc_pb2, "Metrics")


def pages(call, request, **options):
    """Every page of a paged list: `for page in pages(accounts.ListUsers, request, actor=...)`.
    The request goes out again with each response's next_page_token until a page has none."""
    request = type(request).FromString(request.SerializeToString())
    while True:
        page = call(request, **options)
        yield page
        if not page.next_page_token:
            return
        request.page_token = page.next_page_token
