/* study: a study's lifecycle states and their stored names, the vocabulary
 * storage, scheduler, service and API share (as trial.h is for trials). Data
 * only, no behaviour beyond the name mapping. */
#ifndef KESTREL_STUDY_H
#define KESTREL_STUDY_H

/* Dense from 0, so a state indexes an array of STUDY_STATES counters. */
typedef enum {
    STUDY_RUNNING = 0,   /* being run, or resumed by the next start */
    STUDY_STOPPED = 1,   /* stopped with budget left; a resume goes on */
    STUDY_COMPLETE = 2,  /* its budget is spent */
    STUDY_FAILED = 3     /* no trial completed, or the study hit an error */
} study_state;

#define STUDY_STATES 4

/* "RUNNING", "STOPPED", "COMPLETE", "FAILED" (the names stored in SQL and
 * shown to users); "UNKNOWN" for a value outside the enum. */
const char *study_state_name(study_state s);
/* Inverse of study_state_name, exact case; -1 for an unknown name. */
int study_state_parse(const char *name);

#endif
