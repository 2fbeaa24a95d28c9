/* DNS protocol constants: types, classes, opcodes, rcodes, header bits. */
#pragma once

enum {
	PD_TYPE_A = 1,
	PD_TYPE_NS = 2,
	PD_TYPE_MD = 3,
	PD_TYPE_MF = 4,
	PD_TYPE_CNAME = 5,
	PD_TYPE_SOA = 6,
	PD_TYPE_MB = 7,
	PD_TYPE_MG = 8,
	PD_TYPE_MR = 9,
	PD_TYPE_PTR = 12,
	PD_TYPE_HINFO = 13,
	PD_TYPE_MINFO = 14,
	PD_TYPE_MX = 15,
	PD_TYPE_TXT = 16,
	PD_TYPE_AAAA = 28,
	PD_TYPE_SRV = 33,
	PD_TYPE_DNAME = 39,
	PD_TYPE_OPT = 41,
	PD_TYPE_DS = 43,
	PD_TYPE_RRSIG = 46,
	PD_TYPE_NSEC = 47,
	PD_TYPE_DNSKEY = 48,
	PD_TYPE_NSEC3 = 50,
	PD_TYPE_NSEC3PARAM = 51,
	PD_TYPE_CDS = 59,
	PD_TYPE_CDNSKEY = 60,
	PD_TYPE_TSIG = 250,
	PD_TYPE_IXFR = 251,
	PD_TYPE_AXFR = 252,
	PD_TYPE_MAILB = 253,
	PD_TYPE_MAILA = 254,
	PD_TYPE_ANY = 255,
};

enum {
	PD_CLASS_IN = 1,
	PD_CLASS_CH = 3,
	PD_CLASS_HS = 4,
	PD_CLASS_NONE = 254,
	PD_CLASS_ANY = 255,
};

enum {
	PD_OPCODE_QUERY = 0,
	PD_OPCODE_IQUERY = 1,
	PD_OPCODE_STATUS = 2,
	PD_OPCODE_NOTIFY = 4,
	PD_OPCODE_UPDATE = 5,
};

enum {
	PD_RCODE_NOERROR = 0,
	PD_RCODE_FORMERR = 1,
	PD_RCODE_SERVFAIL = 2,
	PD_RCODE_NXDOMAIN = 3,
	PD_RCODE_NOTIMP = 4,
	PD_RCODE_REFUSED = 5,
	PD_RCODE_YXDOMAIN = 6,
	PD_RCODE_NOTAUTH = 9,
	PD_RCODE_BADVERS = 16,   /* extended: needs the OPT record's upper bits */
	PD_RCODE_BADKEY = 17,    /* TSIG error field only (RFC 8945): the header says NOTAUTH */
	PD_RCODE_BADCOOKIE = 23, /* extended (RFC 7873 8): the header shows 7 */
};

/* Header flag bits in the 16-bit word at offset 2. */
#define PD_FLAG_QR 0x8000u
#define PD_FLAG_AA 0x0400u
#define PD_FLAG_TC 0x0200u
#define PD_FLAG_RD 0x0100u
#define PD_FLAG_RA 0x0080u
#define PD_FLAG_Z 0x0040u
#define PD_FLAG_AD 0x0020u
#define PD_FLAG_CD 0x0010u
#define PD_OPCODE_MASK 0x7800u
#define PD_OPCODE_SHIFT 11
#define PD_RCODE_MASK 0x000Fu

#define PD_HEADER_LEN 12
#define PD_EDNS_DO 0x8000u       /* the DO bit in the OPT TTL's flag half */
#define PD_EDNS_OPT_NSID 3       /* Name Server Identifier option code, RFC 5001 */
#define PD_EDNS_OPT_COOKIE 10    /* DNS COOKIE option code, RFC 7873 */
#define PD_EDNS_OPT_KEEPALIVE 11 /* edns-tcp-keepalive option code, RFC 7828 */
#define PD_EDNS_OPT_EDE 15       /* Extended DNS Error option code, RFC 8914 */
#define PD_EDE_PROHIBITED 18
#define PD_EDE_NOT_AUTHORITATIVE 20
#define PD_EDE_NOT_SUPPORTED 21
#define PD_UDP_MIN 512   /* the classic limit, and the floor for EDNS sizes */
#define PD_MSG_MAX 65535 /* the most a message may have: what TCP's 2-byte length frames */
