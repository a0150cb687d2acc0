// SPDX-License-Identifier: GPL-2.0
/* Enumerator relocations across enum widths and signs: a local 32-bit enum
 * whose kernel counterpart is an ENUM64 (perf_callchain_context), a local
 * ENUM64 (ib_uverbs_device_cap_flags), negative values that libbpf sign-extends
 * (perf_event_state, rpm_status), values in ALU immediates and in ld_imm64,
 * and a local enum the kernel declares with different values. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

enum perf_callchain_context {
	PERF_CONTEXT_HV = 1,        /* the kernel says (u64)-32 */
	PERF_CONTEXT_KERNEL = 2,
};

/* an ENUM64 in vmlinux of every kernel in the matrix (blake2b_iv, used
 * before, lives in a module on Debian) */
enum ib_uverbs_device_cap_flags {
	IB_UVERBS_DEVICE_RAW_SCATTER_FCS = 0x100000000ULL,      /* 1 << 34 */
	IB_UVERBS_DEVICE_PCI_WRITE_END_PADDING = 0x100000007ULL, /* 1 << 36 */
};

enum perf_event_state {
	PERF_EVENT_STATE_DEAD = 1,
	PERF_EVENT_STATE_OFF = 2,
	PERF_EVENT_STATE_ACTIVE = 3,
};

enum rpm_status {
	RPM_INVALID = 7,
	RPM_ACTIVE = 0,
};

long long out[16];

SEC("raw_tracepoint/sched_switch")
int core_enums(void *ctx)
{
	out[0] = bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_HV);
	out[1] = bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_KERNEL);
	out[2] = bpf_core_enum_value_exists(enum perf_callchain_context, PERF_CONTEXT_KERNEL);
	out[3] = bpf_core_enum_value(enum ib_uverbs_device_cap_flags, IB_UVERBS_DEVICE_RAW_SCATTER_FCS);
	out[4] = bpf_core_enum_value(enum ib_uverbs_device_cap_flags, IB_UVERBS_DEVICE_PCI_WRITE_END_PADDING);
	out[5] = bpf_core_enum_value(enum perf_event_state, PERF_EVENT_STATE_DEAD);
	out[6] = bpf_core_enum_value(enum perf_event_state, PERF_EVENT_STATE_ACTIVE);
	out[7] = bpf_core_enum_value(enum rpm_status, RPM_INVALID);
	out[8] = (int)bpf_core_enum_value(enum rpm_status, RPM_INVALID);
	out[9] = bpf_core_type_size(enum perf_callchain_context);
	out[10] = bpf_core_type_exists(enum ib_uverbs_device_cap_flags);
	out[11] = bpf_core_type_matches(enum perf_event_state);
	out[12] = bpf_core_type_matches(enum rpm_status);
	return 0;
}

char _license[] SEC("license") = "GPL";
