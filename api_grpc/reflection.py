"""Server reflection in both versions clients speak: ``grpc.reflection.v1`` (grpcurl, Postman, current grpcio) and
``grpc.reflection.v1alpha`` (older clients).

grpcio-reflection ships only v1alpha. The two versions' messages are the same, field for field; only the package
differs. So the same servicer is registered a second time under the v1 service name, and a v1 copy of the
reflection proto's descriptor (the package renamed) is added to the descriptor pool, so that a client can also ask
for the v1 service's own file.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1ALPHA = reflection.SERVICE_NAME  # grpc.reflection.v1alpha.ServerReflection
V1 = "grpc.reflection.v1.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"


def _add_v1_descriptor(pool: descriptor_pool.DescriptorPool) -> None:
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."
    proto.name, proto.package = _V1_FILE, "grpc.reflection.v1"
    proto.ClearField("options")
    for message in proto.message_type:
        for fld in message.field:
            if fld.type_name.startswith(old):
                fld.type_name = new + fld.type_name[len(old):]
    for service in proto.service:
        for method in service.method:
            method.input_type = new + method.input_type[len(old):]
            method.output_type = new + method.output_type[len(old):]
    pool.Add(proto)


def enable_reflection(server: grpc.Server, service_names: Iterable[str]) -> tuple[str, ...]:
    """Offer reflection v1 and v1alpha on ``server`` for ``service_names`` (both reflection services are listed
    too); returns every name listed."""
    _add_v1_descriptor(descriptor_pool.Default())
    names = (*service_names, V1, V1ALPHA)
    servicer = reflection.ReflectionServicer(names)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler(V1ALPHA, {"ServerReflectionInfo": handler}),
        grpc.method_handlers_generic_handler(V1, {"ServerReflectionInfo": handler}),
    ))
    return names
