"""The LensDB gRPC API (package ``lensdb.v1``): protocol, service layer, servicers, server, client and CLI.

See ``api_grpc/README.md``; the stubs in ``api_grpc/gen`` come from ``python -m lensdb.api_grpc.codegen``.
"""
