package camssim

import (
	"net/http"
	"slices"

	"github.com/wahealth/wahealth/pkg/health"
)

// parseHealthQuery validates the parameters of GetWhatsappHealthStatus.
func parseHealthQuery(p map[string]string) (Query, *apiError) {
	q := Query{
		NodeType:     p["NodeType"],
		CustSpaceID:  p["CustSpaceId"],
		WabaID:       p["WabaId"],
		PhoneNumber:  p["PhoneNumber"],
		TemplateCode: p["TemplateCode"],
		Language:     p["Language"],
	}
	if q.NodeType == "" {
		return q, errMissing("NodeType")
	}
	if q.CustSpaceID == "" {
		return q, errMissing("CustSpaceId")
	}
	switch health.NodeType(q.NodeType) {
	case health.NodePhone:
		if q.PhoneNumber == "" {
			return q, errMissing("PhoneNumber")
		}
	case health.NodeTemplate:
		if q.TemplateCode == "" {
			return q, errMissing("TemplateCode")
		}
		if q.Language == "" {
			return q, errMissing("Language")
		}
	case health.NodeWABA:
		if q.WabaID == "" {
			return q, errMissing("WabaId")
		}
	default:
		return q, errInvalidParam("NodeType", "want waba, phone or template")
	}
	return q, nil
}

// healthAnswer is the success envelope of GetWhatsappHealthStatus.
type healthAnswer struct {
	RequestID          string      `json:"RequestId"`
	Code               string      `json:"Code"`
	Success            bool        `json:"Success"`
	Message            string      `json:"Message"`
	AccessDeniedDetail string      `json:"AccessDeniedDetail"`
	Data               *healthData `json:"Data,omitempty"`
}

type healthData struct {
	CanSendMessage string       `json:"CanSendMessage"`
	Entities       []healthItem `json:"Entities"`
}

type healthItem struct {
	EntityType     string        `json:"EntityType"`
	CanSendMessage string        `json:"CanSendMessage"`
	PhoneNumber    string        `json:"PhoneNumber,omitempty"`
	TemplateCode   string        `json:"TemplateCode,omitempty"`
	Language       string        `json:"Language,omitempty"`
	WabaID         string        `json:"WabaId,omitempty"`
	BusinessID     string        `json:"BusinessId,omitempty"`
	Errors         []healthError `json:"Errors,omitempty"`
}

type healthError struct {
	ErrorCode        string `json:"ErrorCode"`
	ErrorDescription string `json:"ErrorDescription,omitempty"`
	PossibleSolution string `json:"PossibleSolution,omitempty"`
}

// respondHealth builds the answer to a valid query from its step (nil: healthy).
func respondHealth(reqID string, q Query, st *Step) (answer, outcome) {
	if st == nil {
		st = &Step{}
	}
	switch st.Fault {
	case FaultThrottle:
		return errThrottled().answer(reqID), outcomeThrottled
	case FaultThrottle429:
		e := errThrottled()
		e.status = http.StatusTooManyRequests
		return e.answer(reqID), outcomeThrottled
	case FaultServerError:
		e := &apiError{http.StatusServiceUnavailable, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."}
		return e.answer(reqID), outcomeFault
	case FaultInternalError:
		e := &apiError{http.StatusInternalServerError, "InternalError", "The request processing has failed due to some unknown error, exception or failure."}
		return e.answer(reqID), outcomeFault
	case FaultTimeout:
		return answer{status: 0, code: "(timeout)", reqID: reqID, hang: true}, outcomeFault
	case FaultDenied:
		body := healthAnswer{
			RequestID:          reqID,
			Code:               "Forbidden.AccessDenied",
			Success:            false,
			Message:            "You are not authorized to perform this operation.",
			AccessDeniedDetail: "AuthAction: cams:" + ActionGetWhatsappHealthStatus + ", NoPermissionType: ImplicitDeny, PolicyType: AccountLevelIdentityBasedPolicy",
		}
		return answer{status: http.StatusOK, code: body.Code, reqID: reqID, body: body}, outcomeFault
	}
	data := healthRows(q, st)
	body := healthAnswer{RequestID: reqID, Code: "OK", Success: true, Data: data}
	return answer{status: http.StatusOK, code: "OK", reqID: reqID, body: body}, outcomeOK
}

// healthRows builds Data for a query: the rows Meta returns for its node type, then the
// step's extra rows, and the overall status.
func healthRows(q Query, st *Step) *healthData {
	wabaID, businessID := st.WabaID, st.BusinessID
	if health.NodeType(q.NodeType) == health.NodeWABA && q.WabaID != "" && st.WabaID == "" {
		wabaID = q.WabaID
	}
	if wabaID == "" {
		wabaID = "waba-" + q.CustSpaceID
	}
	if businessID == "" {
		businessID = "biz-" + q.CustSpaceID
	}
	gen := func(key string, typ health.EntityType, r *Row) *healthItem {
		if slices.Contains(st.Omit, key) {
			return nil
		}
		it := &healthItem{EntityType: string(typ), CanSendMessage: string(health.Available), WabaID: wabaID, BusinessID: businessID}
		if r != nil {
			if r.Status != "" {
				it.CanSendMessage = string(r.Status)
			}
			for _, e := range r.Errors {
				it.Errors = append(it.Errors, healthError{ErrorCode: e.Code, ErrorDescription: e.Description, PossibleSolution: e.Solution})
			}
		}
		return it
	}
	var rows []*healthItem
	switch health.NodeType(q.NodeType) {
	case health.NodePhone:
		if it := gen(RowPhone, health.PhoneNumber, st.Phone); it != nil {
			it.PhoneNumber = health.NormalizePhone(q.PhoneNumber)
			rows = append(rows, it)
		}
	case health.NodeTemplate:
		if it := gen(RowTemplate, health.Template, st.Template); it != nil {
			it.TemplateCode, it.Language = q.TemplateCode, q.Language
			rows = append(rows, it)
		}
	}
	rows = append(rows,
		gen(RowWABA, health.WABA, st.WABA),
		gen(RowBusiness, health.Business, st.Business),
		gen(RowApp, health.App, st.App))
	data := &healthData{Entities: []healthItem{}}
	for _, it := range rows {
		if it != nil {
			data.Entities = append(data.Entities, *it)
		}
	}
	for _, x := range st.Extra {
		it := healthItem{
			EntityType: x.Type, CanSendMessage: x.CanSendMessage, PhoneNumber: x.PhoneNumber,
			TemplateCode: x.TemplateCode, Language: x.Language, WabaID: x.WabaID, BusinessID: x.BusinessID,
		}
		for _, e := range x.Errors {
			it.Errors = append(it.Errors, healthError{ErrorCode: e.Code, ErrorDescription: e.Description, PossibleSolution: e.Solution})
		}
		data.Entities = append(data.Entities, it)
	}
	data.CanSendMessage = string(st.Overall)
	if data.CanSendMessage == "" {
		overall := health.Available
		for i, it := range data.Entities {
			if i == 0 {
				overall = health.Status(it.CanSendMessage)
				continue
			}
			overall = health.Worse(overall, health.Status(it.CanSendMessage))
		}
		data.CanSendMessage = string(overall)
	}
	return data
}
