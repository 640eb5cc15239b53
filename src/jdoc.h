/*
 * jdoc: strict JSON (RFC 8259, UTF-8 checked) parsed in one pass into one
 * array of nodes, for the event path: a message body becomes two
 * allocations (the nodes, and its strings and numbers decoded) instead of
 * json-c's few per value, and is freed in two.  Read only; json-c stays
 * for everything that builds or prints JSON.
 *
 * A value is a node followed by its children: an array's elements, an
 * object's members as a key (a JT_STRING node) then its value.  Pure: no
 * I/O, no logging.
 */
#ifndef PCS_JDOC_H
#define PCS_JDOC_H

#include <stddef.h>
#include <stdint.h>

enum jtype {
	JT_NULL,
	JT_BOOL,
	JT_INT,		/* an integer that fits in int64 */
	JT_DOUBLE,	/* any other number: v.d, and s its text as sent */
	JT_STRING,
	JT_ARRAY,
	JT_OBJECT
};

struct jnode {
	/*
	 * JT_STRING: its bytes decoded, NUL-terminated (a "\u0000" inside
	 * is a NUL: len counts it); JT_INT, JT_DOUBLE: the number's text as
	 * sent, NUL-terminated.  NULL for the other types.
	 */
	const char	*s;
	union {
		int64_t	 i;
		double	 d;
		int	 b;
	} v;
	/* JT_STRING: bytes; numbers: text; JT_ARRAY, JT_OBJECT: members. */
	uint32_t	 len;
	uint32_t	 size;	/* nodes in this value, itself included */
	uint8_t		 type;
};

/* Containers nested deeper than this are refused (json-c's default). */
#define JDOC_MAX_DEPTH	32

struct jdoc {
	struct jnode	*n;
	size_t		 nn;
	size_t		 cap;
	char		*buf;
	/* Why a parse failed: a description, and the byte offset. */
	const char	*what;
	size_t		 at;
};

#define JDOC_BAD	(-1)	/* not JSON: what and at say why */
#define JDOC_NOMEM	(-2)

/*
 * Parse len bytes of text as one JSON value with nothing but whitespace
 * around it.  0 (the root is d->n), JDOC_BAD or JDOC_NOMEM; jdoc_free in
 * every case.
 */
int	jdoc_parse(struct jdoc *d, const char *text, size_t len);
void	jdoc_free(struct jdoc *d);

/* The node after v and its children: the next element or key. */
static inline const struct jnode *
jnode_next(const struct jnode *v)
{
	return v + v->size;
}

/*
 * Object o's member name (the last one, where the name repeats, as json-c
 * takes it), NULL when absent; a JSON null is a JT_NULL node.
 */
const struct jnode *jnode_member(const struct jnode *o, const char *name);

/*
 * Object o's member name as a string: 1 with *s and *len (len may be
 * NULL), 0 when absent or null, -1 when it is not a string.
 */
int	jnode_string(const struct jnode *o, const char *name, const char **s,
	    size_t *len);

struct jmember {
	const struct jnode	*key;
	const struct jnode	*value;
};

/*
 * Object o's members as json-c keeps them, for a printer: a repeated name
 * once, in the place of its first appearance, with its last value.  0
 * with *out (to free; NULL when there are none) holding *n of them, or
 * JDOC_NOMEM.  Linear in the members: past a few, a hash of the names.
 */
int	jnode_members(const struct jnode *o, struct jmember **out, size_t *n);

#endif
