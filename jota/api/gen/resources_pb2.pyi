from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResourceRef(_message.Message):
    __slots__ = ("resource", "namespace", "name")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    resource: str
    namespace: str
    name: str
    def __init__(self, resource: _Optional[str] = ..., namespace: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class WriteOptions(_message.Message):
    __slots__ = ("dry_run", "field_manager")
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    FIELD_MANAGER_FIELD_NUMBER: _ClassVar[int]
    dry_run: str
    field_manager: str
    def __init__(self, dry_run: _Optional[str] = ..., field_manager: _Optional[str] = ...) -> None: ...

class CreateRequest(_message.Message):
    __slots__ = ("ref", "body", "options")
    REF_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ref: ResourceRef
    body: bytes
    options: WriteOptions
    def __init__(self, ref: _Optional[_Union[ResourceRef, _Mapping]] = ..., body: _Optional[bytes] = ..., options: _Optional[_Union[WriteOptions, _Mapping]] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: ResourceRef
    def __init__(self, ref: _Optional[_Union[ResourceRef, _Mapping]] = ...) -> None: ...

class UpdateRequest(_message.Message):
    __slots__ = ("ref", "body", "options")
    REF_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ref: ResourceRef
    body: bytes
    options: WriteOptions
    def __init__(self, ref: _Optional[_Union[ResourceRef, _Mapping]] = ..., body: _Optional[bytes] = ..., options: _Optional[_Union[WriteOptions, _Mapping]] = ...) -> None: ...

class PatchRequest(_message.Message):
    __slots__ = ("ref", "patch_type", "patch", "options", "status")
    REF_FIELD_NUMBER: _ClassVar[int]
    PATCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    PATCH_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ref: ResourceRef
    patch_type: str
    patch: bytes
    options: WriteOptions
    status: bool
    def __init__(self, ref: _Optional[_Union[ResourceRef, _Mapping]] = ..., patch_type: _Optional[str] = ..., patch: _Optional[bytes] = ..., options: _Optional[_Union[WriteOptions, _Mapping]] = ..., status: _Optional[bool] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("ref", "propagation_policy", "grace_period_seconds", "precondition_resource_version", "options")
    REF_FIELD_NUMBER: _ClassVar[int]
    PROPAGATION_POLICY_FIELD_NUMBER: _ClassVar[int]
    GRACE_PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PRECONDITION_RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ref: ResourceRef
    propagation_policy: str
    grace_period_seconds: int
    precondition_resource_version: str
    options: WriteOptions
    def __init__(self, ref: _Optional[_Union[ResourceRef, _Mapping]] = ..., propagation_policy: _Optional[str] = ..., grace_period_seconds: _Optional[int] = ..., precondition_resource_version: _Optional[str] = ..., options: _Optional[_Union[WriteOptions, _Mapping]] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("ref", "label_selector", "field_selector", "limit", "resource_version")
    REF_FIELD_NUMBER: _ClassVar[int]
    LABEL_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    FIELD_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ref: ResourceRef
    label_selector: str
    field_selector: str
    limit: int
    resource_version: str
    def __init__(self, ref: _Optional[_Union[ResourceRef, _Mapping]] = ..., label_selector: _Optional[str] = ..., field_selector: _Optional[str] = ..., limit: _Optional[int] = ..., resource_version: _Optional[str] = ..., **kwargs) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("ref", "label_selector", "field_selector", "resource_version", "allow_bookmarks", "send_initial_events")
    REF_FIELD_NUMBER: _ClassVar[int]
    LABEL_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    FIELD_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ALLOW_BOOKMARKS_FIELD_NUMBER: _ClassVar[int]
    SEND_INITIAL_EVENTS_FIELD_NUMBER: _ClassVar[int]
    ref: ResourceRef
    label_selector: str
    field_selector: str
    resource_version: str
    allow_bookmarks: bool
    send_initial_events: bool
    def __init__(self, ref: _Optional[_Union[ResourceRef, _Mapping]] = ..., label_selector: _Optional[str] = ..., field_selector: _Optional[str] = ..., resource_version: _Optional[str] = ..., allow_bookmarks: _Optional[bool] = ..., send_initial_events: _Optional[bool] = ...) -> None: ...

class ObjectResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    def __init__(self, body: _Optional[bytes] = ...) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    def __init__(self, body: _Optional[bytes] = ...) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ("type", "object")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    type: str
    object: bytes
    def __init__(self, type: _Optional[str] = ..., object: _Optional[bytes] = ...) -> None: ...

class BindRequest(_message.Message):
    __slots__ = ("ref", "body")
    REF_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    ref: ResourceRef
    body: bytes
    def __init__(self, ref: _Optional[_Union[ResourceRef, _Mapping]] = ..., body: _Optional[bytes] = ...) -> None: ...

class ScaleRequest(_message.Message):
    __slots__ = ("ref", "body")
    REF_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    ref: ResourceRef
    body: bytes
    def __init__(self, ref: _Optional[_Union[ResourceRef, _Mapping]] = ..., body: _Optional[bytes] = ...) -> None: ...

class EvictRequest(_message.Message):
    __slots__ = ("ref", "body")
    REF_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    ref: ResourceRef
    body: bytes
    def __init__(self, ref: _Optional[_Union[ResourceRef, _Mapping]] = ..., body: _Optional[bytes] = ...) -> None: ...

class DiscoveryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class APIResource(_message.Message):
    __slots__ = ("name", "singular_name", "kind", "group", "version", "namespaced", "short_names", "verbs", "categories")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SINGULAR_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NAMESPACED_FIELD_NUMBER: _ClassVar[int]
    SHORT_NAMES_FIELD_NUMBER: _ClassVar[int]
    VERBS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    singular_name: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: _containers.RepeatedScalarFieldContainer[str]
    verbs: _containers.RepeatedScalarFieldContainer[str]
    categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., singular_name: _Optional[str] = ..., kind: _Optional[str] = ..., group: _Optional[str] = ..., version: _Optional[str] = ..., namespaced: _Optional[bool] = ..., short_names: _Optional[_Iterable[str]] = ..., verbs: _Optional[_Iterable[str]] = ..., categories: _Optional[_Iterable[str]] = ...) -> None: ...

class DiscoveryResponse(_message.Message):
    __slots__ = ("resources", "server_version")
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    resources: _containers.RepeatedCompositeFieldContainer[APIResource]
    server_version: str
    def __init__(self, resources: _Optional[_Iterable[_Union[APIResource, _Mapping]]] = ..., server_version: _Optional[str] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("path", "recursive")
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    path: str
    recursive: bool
    def __init__(self, path: _Optional[str] = ..., recursive: _Optional[bool] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...
