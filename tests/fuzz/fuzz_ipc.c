/*
 * The status channel between consumers and the master (src/ipc.c):
 * ipc_decode and ipc_decode_any; what decodes must encode and decode
 * again to the same message.
 */
#include "autoconf.h"

#include <string.h>

#include "fuzz.h"
#include "ipc.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ipc_any any, again;
	struct ipc_msg m, m2;
	unsigned char buf[IPC_MSG_SIZE + IPC_METRICS_SIZE + IPC_REPORT_SIZE];
	char err[256];

	if (ipc_decode(&m, data, size, err, sizeof(err)) == 0) {
		ipc_encode(&m, buf);
		if (ipc_decode(&m2, buf, IPC_MSG_SIZE, err, sizeof(err)) != 0 ||
		    m2.type != m.type || m2.pid != m.pid ||
		    strcmp(m2.reason, m.reason) != 0)
			fuzz_fail("ipc: status does not encode back");
	}
	if (ipc_decode_any(&any, data, size, err, sizeof(err)) != 0)
		return 0;
	(void)ipc_type_name(any.type);
	switch (any.type) {
	case IPC_METRICS:
		ipc_encode_metrics(&any.metrics, buf);
		if (ipc_decode_any(&again, buf, IPC_METRICS_SIZE, err,
		    sizeof(err)) != 0 || again.metrics.pid != any.metrics.pid)
			fuzz_fail("ipc: metrics do not encode back");
		break;
	case IPC_REPORT:
		(void)ipc_report_kind_name(any.report.kind);
		ipc_encode_report(&any.report, buf);
		if (ipc_decode_any(&again, buf, IPC_REPORT_SIZE, err,
		    sizeof(err)) != 0 ||
		    strcmp(again.report.text, any.report.text) != 0 ||
		    again.report.kind != any.report.kind)
			fuzz_fail("ipc: report does not encode back");
		break;
	default:
		if (any.type < IPC_HELLO || any.type > IPC_TYPE_MAX)
			fuzz_fail("ipc: type out of range");
		break;
	}
	return 0;
}
