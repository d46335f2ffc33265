/* api_static: the embedded dashboard's files; see api_static.h. A file goes
 * out as it was embedded, with the type its name's extension says. */
#include "api_static.h"

#include <string.h>

/* The dashboard, embedded by build-aux/embed.sh from web/. */
extern const char *const web_assets[];
extern const char *const web_assets_names[];
extern const unsigned long web_assets_sizes[];

static const char *mime_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".json", "application/json"},         {".png", "image/png"},
        {".ico", "image/x-icon"},              {".txt", "text/plain; charset=utf-8"}};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i][0])) return types[i][1];
    return "application/octet-stream";
}

/* Only names in the embedded set are served, so no path reaches a file. */
void api_static(http_req *rq, void *ctx)
{
    (void)ctx;
    const char *path = http_path(rq);
    const char *name = !strcmp(path, "/") ? "index.html" : path + 1;
    const char *method = http_method(rq);
    if (path[0] == '/' && !strchr(name, '/'))
        for (int i = 0; web_assets_names[i]; i++) {
            if (strcmp(web_assets_names[i], name)) continue;
            if (strcmp(method, "GET") && strcmp(method, "HEAD"))
                http_respond_not_allowed(rq, "GET, HEAD");
            else
                http_respond_static(rq, 200, mime_type(name), web_assets[i], web_assets_sizes[i]);
            return;
        }
    http_respond_error(rq, 404, "not_found", NULL, "no such resource: %s", path);
}
