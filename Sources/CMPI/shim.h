// Open MPI defines its handles and constants as macros over global symbols,
// which Swift cannot import; these inline functions hand them over.
#ifndef GDQR_CMPI_SHIM_H
#define GDQR_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm gdqr_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype gdqr_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype gdqr_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype gdqr_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype gdqr_mpi_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Datatype gdqr_mpi_char(void) { return MPI_CHAR; }
static inline MPI_Op gdqr_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op gdqr_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op gdqr_mpi_min(void) { return MPI_MIN; }
static inline MPI_Request gdqr_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *gdqr_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Errhandler gdqr_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline void *gdqr_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int gdqr_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int gdqr_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int gdqr_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int gdqr_mpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int gdqr_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline MPI_Info gdqr_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Comm gdqr_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline int gdqr_mpi_thread_single(void) { return MPI_THREAD_SINGLE; }
static inline int gdqr_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
#endif
