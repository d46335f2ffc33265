/* study: maps study states to the names stored in the database and shown to
 * users; see study.h. */
#include "study.h"

#include <string.h>

static const char *const names[STUDY_STATES] = {
    [STUDY_RUNNING] = "RUNNING", [STUDY_STOPPED] = "STOPPED",
    [STUDY_COMPLETE] = "COMPLETE", [STUDY_FAILED] = "FAILED"};

const char *study_state_name(study_state s)
{
    return (unsigned)s < STUDY_STATES ? names[s] : "UNKNOWN";
}

int study_state_parse(const char *name)
{
    for (int i = 0; i < STUDY_STATES; i++)
        if (name && strcmp(name, names[i]) == 0) return i;
    return -1;
}
