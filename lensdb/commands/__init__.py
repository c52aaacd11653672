"""The sub-commands of ``lensdb``, one module per group; each has ``register(subparsers)``.

A command translates its flags to calls on the library (the parts below the face, usually through the service layer
:mod:`lensdb.services`) and prints what happened; it holds no capability of its own. Heavy imports (torch, pymilvus)
happen inside the command's function, so ``lensdb --help`` stays fast.
"""
