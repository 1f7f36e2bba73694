/*
 * jobs.c - the one backtest job table (jobs.h).
 *
 * Records are found by id through a dict; owned ones are also on their
 * owner's list (a dict of per-user lists, for 1000-per-user limits and a
 * user's listing without a scan), ownerless ones on an LRU list by last
 * event, so the count bound drops the stalest in O(1).
 *
 * Invariants: every owned record is on exactly one owner's list and that
 * list's n counts it; every ownerless record is on the orphan list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/dict.h"
#include "tickpush/jobs.h"

struct user_jobs {
	size_t n;
	struct tp_backtest_job *head;
};

struct tp_jobs {
	size_t max;
	struct tp_dict *jobs;   /* id -> struct tp_backtest_job * */
	struct tp_dict *users;  /* "<user_id>" -> struct user_jobs * */
	struct tp_lru orphans;  /* ownerless records, most recent event first */
};

struct tp_jobs *tp_jobs_create(size_t max)
{
	struct tp_jobs *t = tp_calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->max = max ? max : TP_JOBS_MAX;
	t->jobs = tp_dict_create();
	t->users = tp_dict_create();
	if (!t->jobs || !t->users) {
		tp_jobs_destroy(t);
		return NULL;
	}
	return t;
}

static void job_free(struct tp_backtest_job *j)
{
	if (!j)
		return;
	tp_free(j->request_json);
	tp_free(j->latest_json);
	tp_free(j);
}

static bool free_job_cb(const char *key, void *value, void *ud)
{
	(void)key;
	(void)ud;
	job_free(value);
	return true;
}

static bool free_user_cb(const char *key, void *value, void *ud)
{
	(void)key;
	(void)ud;
	tp_free(value);
	return true;
}

void tp_jobs_destroy(struct tp_jobs *t)
{
	if (!t)
		return;
	if (t->jobs) {
		tp_dict_foreach(t->jobs, free_job_cb, NULL);
		tp_dict_destroy(t->jobs);
	}
	if (t->users) {
		tp_dict_foreach(t->users, free_user_cb, NULL);
		tp_dict_destroy(t->users);
	}
	tp_free(t);
}

static void user_key(long long user_id, char out[24])
{
	snprintf(out, 24, "%lld", user_id);
}

static struct user_jobs *user_of(const struct tp_jobs *t, long long user_id)
{
	char key[24];

	user_key(user_id, key);
	return tp_dict_get(t->users, key);
}

size_t tp_jobs_count(const struct tp_jobs *t)
{
	return t ? tp_dict_size(t->jobs) : 0;
}

size_t tp_jobs_user_count(const struct tp_jobs *t, long long user_id)
{
	struct user_jobs *u = t ? user_of(t, user_id) : NULL;

	return u ? u->n : 0;
}

bool tp_jobs_full(const struct tp_jobs *t)
{
	return tp_dict_size(t->jobs) >= t->max && !t->orphans.tail;
}

struct tp_backtest_job *tp_jobs_find(const struct tp_jobs *t, const char *id)
{
	return t && id ? tp_dict_get(t->jobs, id) : NULL;
}

long long tp_jobs_owner(const struct tp_jobs *t, const char *id)
{
	const struct tp_backtest_job *j = tp_jobs_find(t, id);

	return j ? j->user_id : 0;
}

/* Takes j off its owner's list (dropping an empty list) or the orphan
 * list; j itself stays. */
static void unlink_job(struct tp_jobs *t, struct tp_backtest_job *j)
{
	char key[24];
	struct user_jobs *u;

	if (!j->user_id) {
		tp_lru_unlink(&t->orphans, &j->orphan);
		return;
	}
	user_key(j->user_id, key);
	if (!(u = tp_dict_get(t->users, key)))
		return;
	if (j->prev)
		j->prev->next = j->next;
	else
		u->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
	if (--u->n == 0) {
		tp_dict_del(t->users, key);
		tp_free(u);
	}
}

/* Puts j on user_id's list (creating it). TP_ERR_NOMEM leaves j off. */
static int link_owner(struct tp_jobs *t, struct tp_backtest_job *j, long long user_id)
{
	struct user_jobs *u;
	char key[24];

	user_key(user_id, key);
	if (!(u = tp_dict_get(t->users, key))) {
		if (!(u = tp_calloc(1, sizeof(*u))))
			return TP_ERR_NOMEM;
		if (tp_dict_set(t->users, key, u, NULL)) {
			tp_free(u);
			return TP_ERR_NOMEM;
		}
	}
	j->user_id = user_id;
	j->next = u->head;
	if (u->head)
		u->head->prev = j;
	u->head = j;
	u->n++;
	return TP_OK;
}

void tp_jobs_remove(struct tp_jobs *t, const char *id)
{
	struct tp_backtest_job *j = tp_jobs_find(t, id);

	if (!j)
		return;
	unlink_job(t, j);
	tp_dict_del(t->jobs, id);
	job_free(j);
}

/* Room for one more record: drops the stalest ownerless one when full.
 * False when full of owned jobs. */
static bool make_room(struct tp_jobs *t)
{
	struct tp_backtest_job *old;

	if (tp_dict_size(t->jobs) < t->max)
		return true;
	if (!t->orphans.tail)
		return false;
	old = tp_lru_entry(t->orphans.tail, struct tp_backtest_job, orphan);
	tp_jobs_remove(t, old->id);
	return true;
}

/* A new record (on no list yet), entered in the dict. */
static struct tp_backtest_job *new_record(struct tp_jobs *t, const char *id)
{
	struct tp_backtest_job *j;

	if (strlen(id) > TP_JOB_ID_MAX || !make_room(t) || !(j = tp_calloc(1, sizeof(*j))))
		return NULL;
	snprintf(j->id, sizeof(j->id), "%s", id);
	if (tp_dict_set(t->jobs, j->id, j, NULL)) {
		tp_free(j);
		return NULL;
	}
	return j;
}

struct tp_backtest_job *tp_jobs_add(struct tp_jobs *t, const char *id,
				    long long user_id, double submitted_at,
				    double expires_at, char *request_json,
				    bool confirmed)
{
	struct tp_backtest_job *j = tp_jobs_find(t, id);
	bool fresh = !j;

	if (j && j->user_id) { /* what is known already wins */
		tp_free(request_json);
		return j;
	}
	if (user_id <= 0 || (fresh && !(j = new_record(t, id)))) {
		tp_free(request_json);
		return NULL;
	}
	if (!fresh)
		tp_lru_unlink(&t->orphans, &j->orphan);
	if (link_owner(t, j, user_id)) {
		j->user_id = 0;
		tp_free(request_json);
		if (fresh) {
			tp_dict_del(t->jobs, id);
			job_free(j);
		} else
			tp_lru_push(&t->orphans, &j->orphan);
		return NULL;
	}
	j->submitted_at = submitted_at;
	j->expires_at = expires_at;
	j->request_json = request_json;
	j->confirmed = confirmed;
	return j;
}

int tp_jobs_update(struct tp_jobs *t, const char *id, const char *data_json,
		   double now)
{
	struct tp_backtest_job *j = tp_jobs_find(t, id);
	char *json = tp_strdup(data_json ? data_json : "{}");

	if (!json)
		return TP_ERR_NOMEM;
	if (!j) {
		if (!(j = new_record(t, id))) {
			tp_free(json);
			return tp_dict_size(t->jobs) >= t->max ? TP_ERR_LIMIT : TP_ERR_NOMEM;
		}
		tp_lru_push(&t->orphans, &j->orphan);
	} else if (!j->user_id) {
		tp_lru_touch(&t->orphans, &j->orphan);
	}
	if (!j->user_id)
		j->expires_at = now + TP_JOBS_TTL;
	tp_free(j->latest_json);
	j->latest_json = json;
	return TP_OK;
}

const struct tp_backtest_job *tp_jobs_get(const struct tp_jobs *t,
					  const char *id, double now)
{
	const struct tp_backtest_job *j = tp_jobs_find(t, id);

	return j && j->user_id && j->confirmed && j->expires_at > now ? j : NULL;
}

static int cmp_recent(const void *a, const void *b)
{
	const struct tp_backtest_job *x = *(const struct tp_backtest_job *const *)a;
	const struct tp_backtest_job *y = *(const struct tp_backtest_job *const *)b;

	if (x->submitted_at != y->submitted_at)
		return x->submitted_at < y->submitted_at ? 1 : -1;
	return strcmp(y->id, x->id);
}

size_t tp_jobs_list(const struct tp_jobs *t, long long user_id, double now,
		    const struct tp_backtest_job ***out)
{
	struct user_jobs *u = t && user_id > 0 ? user_of(t, user_id) : NULL;
	const struct tp_backtest_job **arr;
	size_t n = 0;

	*out = NULL;
	if (!u)
		return 0;
	if (!(arr = tp_calloc(u->n, sizeof(*arr))))
		return (size_t)-1;
	for (const struct tp_backtest_job *j = u->head; j; j = j->next)
		if (j->confirmed && j->expires_at > now)
			arr[n++] = j;
	if (!n) {
		tp_free(arr);
		return 0;
	}
	qsort(arr, n, sizeof(*arr), cmp_recent);
	*out = arr;
	return n;
}

struct prune_ctx {
	struct tp_jobs *t;
	double now;
	size_t removed;
};

static bool prune_one(const char *key, void *value, void *ud)
{
	struct prune_ctx *pc = ud;
	struct tp_backtest_job *j = value;

	(void)key;
	/* An owned job being submitted stays until its EXEC answers. */
	if ((j->user_id && !j->confirmed) || j->expires_at > pc->now)
		return false;
	unlink_job(pc->t, j);
	job_free(j);
	pc->removed++;
	return true;
}

size_t tp_jobs_prune(struct tp_jobs *t, double now)
{
	struct prune_ctx pc = {t, now, 0};

	if (t)
		tp_dict_foreach(t->jobs, prune_one, &pc);
	return pc.removed;
}
