"""cffi declarations for bpf(2): the libc ``syscall`` entry and the UAPI structs.

ABI mode only (``ffi.dlopen(None)``): importing bpfnb never needs a compiler.
``_CDEF`` is parsed ahead of time into ``_ffi_types.py`` (``tools/gen_ffi.py``,
cffi's out-of-line ABI mode), so an import does not run pycparser.
Because cffi cannot see the kernel headers in ABI mode, each anonymous member
of ``union bpf_attr`` is declared here as a *named* struct
(``struct bpf_attr_map_create`` ...); :data:`ATTR_STRUCTS` says which kernel
member each one mirrors, and ``tests/test_kernel_layout.py`` checks every
size and offset against the running kernel's BTF.  The field lists follow
Linux 6.18; a newer kernel only appends fields, an older one accepts the
longer struct as long as the fields it does not know are zero.
"""

from __future__ import annotations

import platform

__all__ = ["ATTR_STRUCTS", "C_TYPES", "INFO_STRUCTS", "ffi", "lib", "nr_bpf"]

#: ``__NR_bpf`` per architecture (asm-generic for arm64 and riscv).
_NR_BPF_BY_MACHINE = {"x86_64": 321, "amd64": 321, "aarch64": 280, "arm64": 280, "riscv64": 280}

_CDEF = r"""
long syscall(long number, ...);

/* ---- union bpf_attr members, one named struct each ------------------- */

struct bpf_attr_map_create {            /* BPF_MAP_CREATE */
    uint32_t map_type;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    uint32_t inner_map_fd;
    uint32_t numa_node;
    char     map_name[16];
    uint32_t map_ifindex;
    uint32_t btf_fd;
    uint32_t btf_key_type_id;
    uint32_t btf_value_type_id;
    uint32_t btf_vmlinux_value_type_id;
    uint64_t map_extra;
    int32_t  value_type_btf_obj_fd;
    int32_t  map_token_fd;
    uint64_t excl_prog_hash;
    uint32_t excl_prog_hash_size;
};

struct bpf_attr_map_elem {              /* BPF_MAP_*_ELEM, GET_NEXT_KEY, FREEZE */
    uint32_t map_fd;
    uint64_t key;
    union {
        uint64_t value;
        uint64_t next_key;
    };
    uint64_t flags;
};

struct bpf_attr_batch {                 /* BPF_MAP_*_BATCH */
    uint64_t in_batch;
    uint64_t out_batch;
    uint64_t keys;
    uint64_t values;
    uint32_t count;
    uint32_t map_fd;
    uint64_t elem_flags;
    uint64_t flags;
};

struct bpf_attr_prog_load {             /* BPF_PROG_LOAD */
    uint32_t prog_type;
    uint32_t insn_cnt;
    uint64_t insns;
    uint64_t license;
    uint32_t log_level;
    uint32_t log_size;
    uint64_t log_buf;
    uint32_t kern_version;
    uint32_t prog_flags;
    char     prog_name[16];
    uint32_t prog_ifindex;
    uint32_t expected_attach_type;
    uint32_t prog_btf_fd;
    uint32_t func_info_rec_size;
    uint64_t func_info;
    uint32_t func_info_cnt;
    uint32_t line_info_rec_size;
    uint64_t line_info;
    uint32_t line_info_cnt;
    uint32_t attach_btf_id;
    union {
        uint32_t attach_prog_fd;
        uint32_t attach_btf_obj_fd;
    };
    uint32_t core_relo_cnt;
    uint64_t fd_array;
    uint64_t core_relos;
    uint32_t core_relo_rec_size;
    uint32_t log_true_size;
    int32_t  prog_token_fd;
    uint32_t fd_array_cnt;
    uint64_t signature;
    uint32_t signature_size;
    int32_t  keyring_id;
};

struct bpf_attr_obj {                   /* BPF_OBJ_PIN, BPF_OBJ_GET */
    uint64_t pathname;
    uint32_t bpf_fd;
    uint32_t file_flags;
    int32_t  path_fd;
};

struct bpf_attr_prog_attach {           /* BPF_PROG_ATTACH, BPF_PROG_DETACH */
    union {
        uint32_t target_fd;
        uint32_t target_ifindex;
    };
    uint32_t attach_bpf_fd;
    uint32_t attach_type;
    uint32_t attach_flags;
    uint32_t replace_bpf_fd;
    union {
        uint32_t relative_fd;
        uint32_t relative_id;
    };
    uint64_t expected_revision;
};

struct bpf_attr_test {                  /* BPF_PROG_TEST_RUN */
    uint32_t prog_fd;
    uint32_t retval;
    uint32_t data_size_in;
    uint32_t data_size_out;
    uint64_t data_in;
    uint64_t data_out;
    uint32_t repeat;
    uint32_t duration;
    uint32_t ctx_size_in;
    uint32_t ctx_size_out;
    uint64_t ctx_in;
    uint64_t ctx_out;
    uint32_t flags;
    uint32_t cpu;
    uint32_t batch_size;
};

struct bpf_attr_get_id {                /* *_GET_NEXT_ID, *_GET_FD_BY_ID */
    union {
        uint32_t start_id;
        uint32_t prog_id;
        uint32_t map_id;
        uint32_t btf_id;
        uint32_t link_id;
    };
    uint32_t next_id;
    uint32_t open_flags;
    int32_t  fd_by_id_token_fd;
};

struct bpf_attr_info {                  /* BPF_OBJ_GET_INFO_BY_FD */
    uint32_t bpf_fd;
    uint32_t info_len;
    uint64_t info;
};

struct bpf_attr_query {                 /* BPF_PROG_QUERY */
    union {
        uint32_t target_fd;
        uint32_t target_ifindex;
    };
    uint32_t attach_type;
    uint32_t query_flags;
    uint32_t attach_flags;
    uint64_t prog_ids;
    union {
        uint32_t prog_cnt;
        uint32_t count;
    };
    uint64_t prog_attach_flags;
    uint64_t link_ids;
    uint64_t link_attach_flags;
    uint64_t revision;
};

struct bpf_attr_raw_tracepoint {        /* BPF_RAW_TRACEPOINT_OPEN */
    uint64_t name;
    uint32_t prog_fd;
    uint64_t cookie;
};

struct bpf_attr_btf_load {              /* BPF_BTF_LOAD */
    uint64_t btf;
    uint64_t btf_log_buf;
    uint32_t btf_size;
    uint32_t btf_log_size;
    uint32_t btf_log_level;
    uint32_t btf_log_true_size;
    uint32_t btf_flags;
    int32_t  btf_token_fd;
};

struct bpf_attr_link_create {           /* BPF_LINK_CREATE */
    union {
        uint32_t prog_fd;
        uint32_t map_fd;
    };
    union {
        uint32_t target_fd;
        uint32_t target_ifindex;
    };
    uint32_t attach_type;
    uint32_t flags;
    union {
        uint32_t target_btf_id;
        struct {
            uint64_t iter_info;
            uint32_t iter_info_len;
        };
        struct {
            uint64_t bpf_cookie;
        } perf_event;
        struct {
            uint32_t flags;
            uint32_t cnt;
            uint64_t syms;
            uint64_t addrs;
            uint64_t cookies;
        } kprobe_multi;
        struct {
            uint32_t target_btf_id;
            uint64_t cookie;
        } tracing;
        struct {
            uint32_t pf;
            uint32_t hooknum;
            int32_t  priority;
            uint32_t flags;
        } netfilter;
        struct {
            union {
                uint32_t relative_fd;
                uint32_t relative_id;
            };
            uint64_t expected_revision;
        } tcx;
        struct {
            uint64_t path;
            uint64_t offsets;
            uint64_t ref_ctr_offsets;
            uint64_t cookies;
            uint32_t cnt;
            uint32_t flags;
            uint32_t pid;
        } uprobe_multi;
        struct {
            union {
                uint32_t relative_fd;
                uint32_t relative_id;
            };
            uint64_t expected_revision;
        } netkit;
        struct {
            union {
                uint32_t relative_fd;
                uint32_t relative_id;
            };
            uint64_t expected_revision;
        } cgroup;
    };
};

struct bpf_attr_link_update {           /* BPF_LINK_UPDATE */
    uint32_t link_fd;
    union {
        uint32_t new_prog_fd;
        uint32_t new_map_fd;
    };
    uint32_t flags;
    union {
        uint32_t old_prog_fd;
        uint32_t old_map_fd;
    };
};

struct bpf_attr_link_detach {           /* BPF_LINK_DETACH */
    uint32_t link_fd;
};

struct bpf_attr_enable_stats {          /* BPF_ENABLE_STATS */
    uint32_t type;
};

struct bpf_attr_iter_create {           /* BPF_ITER_CREATE */
    uint32_t link_fd;
    uint32_t flags;
};

struct bpf_attr_prog_bind_map {         /* BPF_PROG_BIND_MAP */
    uint32_t prog_fd;
    uint32_t map_fd;
    uint32_t flags;
};

/* ---- BPF_OBJ_GET_INFO_BY_FD results ----------------------------------- */

struct bpf_prog_info {
    uint32_t type;
    uint32_t id;
    uint8_t  tag[8];
    uint32_t jited_prog_len;
    uint32_t xlated_prog_len;
    uint64_t jited_prog_insns;
    uint64_t xlated_prog_insns;
    uint64_t load_time;
    uint32_t created_by_uid;
    uint32_t nr_map_ids;
    uint64_t map_ids;
    char     name[16];
    uint32_t ifindex;
    uint32_t gpl_compatible:1;
    uint64_t netns_dev;
    uint64_t netns_ino;
    uint32_t nr_jited_ksyms;
    uint32_t nr_jited_func_lens;
    uint64_t jited_ksyms;
    uint64_t jited_func_lens;
    uint32_t btf_id;
    uint32_t func_info_rec_size;
    uint64_t func_info;
    uint32_t nr_func_info;
    uint32_t nr_line_info;
    uint64_t line_info;
    uint64_t jited_line_info;
    uint32_t nr_jited_line_info;
    uint32_t line_info_rec_size;
    uint32_t jited_line_info_rec_size;
    uint32_t nr_prog_tags;
    uint64_t prog_tags;
    uint64_t run_time_ns;
    uint64_t run_cnt;
    uint64_t recursion_misses;
    uint32_t verified_insns;
    uint32_t attach_btf_obj_id;
    uint32_t attach_btf_id;
};

struct bpf_map_info {
    uint32_t type;
    uint32_t id;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    char     name[16];
    uint32_t ifindex;
    uint32_t btf_vmlinux_value_type_id;
    uint64_t netns_dev;
    uint64_t netns_ino;
    uint32_t btf_id;
    uint32_t btf_key_type_id;
    uint32_t btf_value_type_id;
    uint32_t btf_vmlinux_id;
    uint64_t map_extra;
    uint64_t hash;
    uint32_t hash_size;
};

struct bpf_btf_info {
    uint64_t btf;
    uint32_t btf_size;
    uint32_t id;
    uint64_t name;
    uint32_t name_len;
    uint32_t kernel_btf;
};

struct bpf_link_info {
    uint32_t type;
    uint32_t id;
    uint32_t prog_id;
    union {
        struct {
            uint64_t tp_name;
            uint32_t tp_name_len;
            uint64_t cookie;
        } raw_tracepoint;
        struct {
            uint32_t attach_type;
            uint32_t target_obj_id;
            uint32_t target_btf_id;
            uint64_t cookie;
        } tracing;
        struct {
            uint64_t cgroup_id;
            uint32_t attach_type;
        } cgroup;
        struct {
            uint64_t target_name;
            uint32_t target_name_len;
            union {
                struct {
                    uint32_t map_id;
                } map;
            };
            union {
                struct {
                    uint64_t cgroup_id;
                    uint32_t order;
                } cgroup;
                struct {
                    uint32_t tid;
                    uint32_t pid;
                } task;
            };
        } iter;
        struct {
            uint32_t netns_ino;
            uint32_t attach_type;
        } netns;
        struct {
            uint32_t ifindex;
        } xdp;
        struct {
            uint32_t map_id;
        } struct_ops;
        struct {
            uint32_t pf;
            uint32_t hooknum;
            int32_t  priority;
            uint32_t flags;
        } netfilter;
        struct {
            uint64_t addrs;
            uint32_t count;
            uint32_t flags;
            uint64_t missed;
            uint64_t cookies;
        } kprobe_multi;
        struct {
            uint64_t path;
            uint64_t offsets;
            uint64_t ref_ctr_offsets;
            uint64_t cookies;
            uint32_t path_size;
            uint32_t count;
            uint32_t flags;
            uint32_t pid;
        } uprobe_multi;
        struct {
            uint32_t type;
            union {
                struct {
                    uint64_t file_name;
                    uint32_t name_len;
                    uint32_t offset;
                    uint64_t cookie;
                    uint64_t ref_ctr_offset;
                } uprobe;
                struct {
                    uint64_t func_name;
                    uint32_t name_len;
                    uint32_t offset;
                    uint64_t addr;
                    uint64_t missed;
                    uint64_t cookie;
                } kprobe;
                struct {
                    uint64_t tp_name;
                    uint32_t name_len;
                    uint64_t cookie;
                } tracepoint;
                struct {
                    uint64_t config;
                    uint32_t type;
                    uint64_t cookie;
                } event;
            };
        } perf_event;
        struct {
            uint32_t ifindex;
            uint32_t attach_type;
        } tcx;
        struct {
            uint32_t ifindex;
            uint32_t attach_type;
        } netkit;
        struct {
            uint32_t map_id;
            uint32_t attach_type;
        } sockmap;
    };
};
"""

#: cdef struct -> how to find the kernel's ``union bpf_attr`` member it mirrors:
#: a member name for the named members, or a field that only that anonymous
#: member has (BTF gives anonymous members no name).
ATTR_STRUCTS: dict[str, tuple[str, str]] = {
    "struct bpf_attr_map_create": ("field", "map_type"),
    "struct bpf_attr_map_elem": ("field", "next_key"),
    "struct bpf_attr_batch": ("member", "batch"),
    "struct bpf_attr_prog_load": ("field", "prog_type"),
    "struct bpf_attr_obj": ("field", "pathname"),
    "struct bpf_attr_prog_attach": ("field", "attach_bpf_fd"),
    "struct bpf_attr_test": ("member", "test"),
    "struct bpf_attr_get_id": ("field", "start_id"),
    "struct bpf_attr_info": ("member", "info"),
    "struct bpf_attr_query": ("member", "query"),
    "struct bpf_attr_raw_tracepoint": ("member", "raw_tracepoint"),
    "struct bpf_attr_btf_load": ("field", "btf_log_buf"),
    "struct bpf_attr_link_create": ("member", "link_create"),
    "struct bpf_attr_link_update": ("member", "link_update"),
    "struct bpf_attr_link_detach": ("member", "link_detach"),
    "struct bpf_attr_enable_stats": ("member", "enable_stats"),
    "struct bpf_attr_iter_create": ("member", "iter_create"),
    "struct bpf_attr_prog_bind_map": ("member", "prog_bind_map"),
}

#: cdef struct -> kernel struct of the same name.
INFO_STRUCTS: dict[str, str] = {
    "struct bpf_prog_info": "bpf_prog_info",
    "struct bpf_map_info": "bpf_map_info",
    "struct bpf_btf_info": "bpf_btf_info",
    "struct bpf_link_info": "bpf_link_info",
}


def nr_bpf(system: str | None = None, machine: str | None = None) -> int:
    """``__NR_bpf`` for this (or the given) OS and machine; OSError if unknown.

    Raised lazily, at the first syscall, so that the pure layers and the
    notebooks' dry run still import on macOS or an unknown architecture.
    """
    system = platform.system() if system is None else system
    machine = platform.machine() if machine is None else machine
    if system != "Linux":
        raise OSError(f"bpf() exists only on Linux, not on {system}")
    try:
        return _NR_BPF_BY_MACHINE[machine.lower()]
    except KeyError:
        known = ", ".join(sorted(_NR_BPF_BY_MACHINE))
        raise OSError(f"bpfnb does not know __NR_bpf for machine {machine!r} (known: {known})") from None


# _CDEF parsed once by tools/gen_ffi.py (cffi's out-of-line ABI mode): importing this
# module does not run pycparser, which took most of a `bpfnb progs` run.
from ._ffi_types import ffi  # noqa: E402

#: libc, for ``syscall``; cffi keeps ``errno`` per thread after each call.
lib = ffi.dlopen(None)

#: Every C type the kernel layer names, spelled as it names them.  cffi builds a
#: type the first time its string is used, in C that allocates Python objects and
#: so can run weakref callbacks and signal handlers; a KeyboardInterrupt there can
#: leave a half-built type behind ("cannot instantiate ctype 'struct bpf_attr_map_create'
#: of unknown size" at every later use, seen under real SIGINTs on slow guests).
#: So they are all built here, once, at import, with the signals that usually
#: raise held back (see ``_realize_all``); ``tests/test_hardening_ffi.py`` checks
#: that every type string in ``bpfnb/`` is in this list and is already built
#: when user code first runs.
C_TYPES: tuple[str, ...] = (
    *(name for struct in (*ATTR_STRUCTS, *INFO_STRUCTS) for name in (struct, f"{struct} *")),
    "char[]", "uint32_t[]", "int32_t[]", "uint64_t[]", "uintptr_t", "long", "void *",
)


def _realize_all() -> None:
    """Build every type in :data:`C_TYPES` (and ``lib.syscall``) now, not at first use.

    SIGINT and SIGALRM get a recording handler for the duration (main thread
    only, where Python runs handlers); what arrived is handed to the original
    handlers afterwards, once every type is complete, so an interrupted import
    leaves no half-built type: a retry of the import starts from scratch.
    """
    import signal
    import threading

    saved: list[tuple[int, object]] = []
    pending: list[int] = []
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, getattr(signal, "SIGALRM", None)):
            if signum is None:
                continue
            handler = signal.getsignal(signum)
            if callable(handler):
                saved.append((signum, handler))
                signal.signal(signum, lambda n, frame: pending.append(n))
    try:
        for name in C_TYPES:
            ffi.typeof(name)  # a struct is completed (fields, size) when first typed
        lib.syscall  # noqa: B018 - the function type is built at first attribute access
    finally:
        for signum, handler in saved:
            signal.signal(signum, handler)  # type: ignore[arg-type]
    for signum in pending:
        for saved_num, handler in saved:
            if saved_num == signum:
                handler(signum, None)  # type: ignore[operator]


_realize_all()
