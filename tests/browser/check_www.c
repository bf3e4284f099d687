/*
 * check_www.c - unit tests of the embedded dashboard (src/mgmt/www.c and the
 * generated www.gen.c): the table is sorted and complete, every file the
 * page references is embedded, and mgmt_asset_find maps URL paths (/, the
 * /static/ alias) and refuses everything else.  The browser test
 * (test/dashboard.test.js) covers serving over HTTP; this one runs without
 * node or chromium.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "www.h"

static const struct mgmt_asset *must_find(const char *path)
{
    const struct mgmt_asset *a = mgmt_asset_find(path);
    ck_assert_msg(a != NULL, "%s is not embedded", path);
    return a;
}

START_TEST(table_sorted_nonempty_typed)
{
    ck_assert_uint_ge(mgmt_www_nassets, 4);
    for (size_t i = 0; i < mgmt_www_nassets; i++) {
        const struct mgmt_asset *a = &mgmt_www_assets[i];
        ck_assert_msg(a->path[0] == '/', "%s", a->path);
        ck_assert_msg(a->len > 0, "%s is empty", a->path);
        ck_assert_ptr_nonnull(a->content_type);
        if (i > 0)
            ck_assert_msg(strcmp(mgmt_www_assets[i - 1].path, a->path) < 0,
                          "%s before %s", mgmt_www_assets[i - 1].path, a->path);
        ck_assert_ptr_eq(mgmt_asset_find(a->path), a);
    }
}
END_TEST

START_TEST(index_and_aliases)
{
    const struct mgmt_asset *index = must_find("/index.html");
    ck_assert_ptr_eq(mgmt_asset_find("/"), index);
    ck_assert_ptr_eq(mgmt_asset_find(""), index);
    ck_assert_str_eq(index->content_type, "text/html; charset=utf-8");
    ck_assert_ptr_eq(mgmt_asset_find("/static/app.js"), must_find("/app.js"));
    ck_assert_str_eq(must_find("/app.js")->content_type, "text/javascript; charset=utf-8");
    ck_assert_str_eq(must_find("/style.css")->content_type, "text/css; charset=utf-8");
}
END_TEST

START_TEST(refuses_unknown_and_traversal)
{
    ck_assert_ptr_null(mgmt_asset_find(NULL));
    ck_assert_ptr_null(mgmt_asset_find("/nope.js"));
    ck_assert_ptr_null(mgmt_asset_find("app.js"));
    ck_assert_ptr_null(mgmt_asset_find("/../app.js"));
    ck_assert_ptr_null(mgmt_asset_find("/static/../app.js"));
    ck_assert_ptr_null(mgmt_asset_find("/app.js/"));
    ck_assert_ptr_null(mgmt_asset_find("/APP.JS"));
    ck_assert_ptr_null(mgmt_asset_find("/api/overview"));
}
END_TEST

/* Every src="..." / href="..." of index.html that is a local file is embedded. */
START_TEST(index_references_are_embedded)
{
    const struct mgmt_asset *index = must_find("/index.html");
    char *html = malloc(index->len + 1);
    ck_assert_ptr_nonnull(html);
    memcpy(html, index->data, index->len);
    html[index->len] = '\0';
    unsigned refs = 0;
    static const char *const attrs[] = {"src=\"", "href=\""};
    for (size_t k = 0; k < 2; k++) {
        for (const char *p = strstr(html, attrs[k]); p; p = strstr(p + 1, attrs[k])) {
            const char *v = p + strlen(attrs[k]);
            const char *end = strchr(v, '"');
            ck_assert_ptr_nonnull(end);
            if (*v == '#' || end == v)
                continue;               /* in-page links (#/queues) */
            char path[256];
            ck_assert_uint_lt((size_t)(end - v) + 2, sizeof(path));
            snprintf(path, sizeof(path), "/%.*s", (int)(end - v), v);
            ck_assert_msg(mgmt_asset_find(path) != NULL, "index.html references %s", path);
            refs++;
        }
    }
    ck_assert_uint_ge(refs, 3);         /* app.js, style.css, favicon.svg */
    free(html);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("www");
    TCase *tc = tcase_create("assets");
    tcase_add_test(tc, table_sorted_nonempty_typed);
    tcase_add_test(tc, index_and_aliases);
    tcase_add_test(tc, refuses_unknown_and_traversal);
    tcase_add_test(tc, index_references_are_embedded);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
