/* BTF feature coverage for bpfnb.btf: every kind clang emits, bitfields,
 * packed and nested anonymous records, enum64, function pointers, tags, and
 * CO-RE relocations of several kinds (field offset/exists/size, type id,
 * enum value) so .BTF.ext has core_relo records.
 */
#include <linux/types.h>

#define SEC(n) __attribute__((section(n), used))
#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __user_ptr __attribute__((btf_type_tag("user")))

enum small_enum : unsigned char { SMALL_A = 1, SMALL_B = 200 };
enum big_enum { BIG_LOW = 1, BIG_HIGH = 0x123456789aULL };
enum signed_enum { NEG = -5, POS = 7 };

struct packed_hdr {
	__u8 kind;
	__u32 value;
	__u16 port;
} __attribute__((packed));

struct bits {
	unsigned int a : 3;
	unsigned int b : 13;
	int c : 7;
	__u64 wide : 40;
	enum small_enum e : 8;
	char tail;
};

typedef int (*handler_fn)(void *ctx, unsigned long flags);

struct ops {
	handler_fn handlers[4];
	void (*log)(const char *fmt, ...);
	struct ops *next;
	const volatile int *cv;
	char *const names[2];
	union {
		struct {
			__u32 lo;
			__u32 hi;
		};
		__u64 both;
	};
	struct {
		int inner;
	} named_anon;
	enum big_enum big;
	enum signed_enum sgn;
	struct bits bits __tag("bits_member");
	struct packed_hdr hdr;
	int __user_ptr *uptr;
	float ratio;
	double precise;
	char flex[];
} __tag("ops_struct");

struct task_like {
	int pid;
	int tgid;
	struct bits flags;
} __attribute__((preserve_access_index));

struct ops global_ops SEC(".data.ops");
volatile const enum big_enum configured = BIG_HIGH;

static __attribute__((noinline)) int helper_with_tag(int x __tag("param_tag")) __tag("func_tag")
{
	return x * 2;
}

SEC("tp_btf/sched_switch")
int core_reader(unsigned long long *ctx)
{
	struct task_like *t = (void *)(long)ctx[0];
	int r = 0;

	r += __builtin_preserve_field_info(t->tgid, 0 /* BYTE_OFFSET */);
	r += __builtin_preserve_field_info(t->pid, 2 /* EXISTENCE */);
	r += __builtin_preserve_field_info(t->tgid, 1 /* BYTE_SIZE */);
	r += __builtin_preserve_field_info(t->flags.b, 4 /* LSHIFT_U64 */);
	r += __builtin_btf_type_id(*t, 1 /* TARGET */);
	r += __builtin_preserve_type_info(*t, 0 /* EXISTENCE */);
	r += __builtin_preserve_enum_value(*(enum big_enum *)BIG_HIGH, 1 /* VALUE */);
	r += helper_with_tag(global_ops.sgn + configured);
	return r;
}

char LICENSE[] SEC("license") = "GPL";
