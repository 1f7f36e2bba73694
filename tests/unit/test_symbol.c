/*
 * test_symbol.c - the one symbol rule (protocol/symbol.c): which strings
 * are symbols, their upper-cased form, and that the places symbols come in
 * through (events, filters) apply exactly this rule.
 */
#include <stdbool.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/buf.h"
#include "tickpush/err.h"
#include "tickpush/event.h"
#include "tickpush/filter.h"
#include "tickpush/symbol.h"

static const struct {
	const char *in;
	const char *norm; /* NULL: not a symbol */
} cases[] = {
	{"AAPL", "AAPL"},
	{"aapl", "AAPL"},
	{"BRK.B", "BRK.B"},
	{"brk.b", "BRK.B"},
	{"BF-B", "BF-B"},
	{"ES_F", "ES_F"},
	{"EUR/USD", "EUR/USD"},
	{"A", "A"},
	{"7203", "7203"},
	{"ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOP"}, /* 16 */
	{"ABCDEFGHIJKLMNOPQ", NULL},              /* 17 */
	{"", NULL},
	{"BRK B", NULL},
	{" AAPL", NULL},
	{"^GSPC", NULL},
	{"A:B", NULL},
	{"A,B", NULL},
	{"A*", NULL},
	{"A\tB", NULL},
	{"\xc3\x84PFEL", NULL},
	{"A\x7f", NULL},
};

static void test_symbol_rule(void **state)
{
	char out[TP_SYMBOL_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in);

		assert_int_equal(tp_symbol_valid(cases[i].in, n), cases[i].norm != NULL);
		assert_int_equal(tp_symbol_norm(cases[i].in, n, out), cases[i].norm != NULL);
		assert_string_equal(out, cases[i].norm ? cases[i].norm : "");
	}
	/* Counted, not NUL-terminated: a prefix can be a symbol. */
	assert_true(tp_symbol_norm("msft and more", 4, out));
	assert_string_equal(out, "MSFT");
	assert_false(tp_symbol_valid("A\0B", 3));
	assert_false(tp_symbol_valid(NULL, 0));
}

/* An event and a filter accept exactly the symbols of the rule. */
static void test_symbol_same_everywhere(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static const struct tp_event_opts opts = {.now = 1725460000.0,
							  .default_ttl = 3600};
		struct tp_event ev;
		struct tp_errdetail err = {{0}, NULL};
		struct tp_filter f;
		struct tp_buf text;
		int rc;

		tp_buf_init(&text, 0);
		tp_buf_puts(&text, "{\"event_type\":\"pattern_detected\"");
		tp_buf_json_kv_str(&text, "symbol", cases[i].in);
		tp_buf_puts(&text, ",\"pattern\":\"Doji\",\"confidence\":0.5}");
		assert_false(text.oom);
		rc = (int)tp_event_parse(TP_CH_PATTERNS, tp_buf_data(&text), text.len,
					 &opts, &ev, &err);
		tp_buf_cleanup(&text);
		if (cases[i].norm) {
			assert_int_equal(rc, TP_REJECT_NONE);
			assert_string_equal(ev.pattern.symbol, cases[i].norm);
		} else {
			assert_int_equal(rc, TP_REJECT_BAD_SYMBOL);
		}
		tp_event_cleanup(&ev);

		/* Empty entries, commas and spaces around an entry are the
		 * list syntax's business (entries are trimmed). */
		if (!*cases[i].in || strchr(cases[i].in, ',') || cases[i].in[0] == ' ')
			continue;
		tp_filter_init(&f);
		rc = tp_filter_set_param(&f, "symbols", cases[i].in, &err);
		if (cases[i].norm) {
			assert_int_equal(rc, TP_OK);
			assert_int_equal(f.n_symbols, 1);
			assert_string_equal(f.symbols[0], cases[i].norm);
		} else {
			assert_int_not_equal(rc, TP_OK);
		}
		tp_filter_cleanup(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_symbol_rule),
		TP_TEST(test_symbol_same_everywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
