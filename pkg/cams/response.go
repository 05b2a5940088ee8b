package cams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/wahealth/wahealth/pkg/health"
)

// Response is the decoded body of a GetWhatsappHealthStatus answer, field for field.
type Response struct {
	RequestID          string       `json:"RequestId"`
	Code               string       `json:"Code"`
	Success            flexBool     `json:"Success"`
	Message            flexString   `json:"Message"`
	AccessDeniedDetail flexString   `json:"AccessDeniedDetail"`
	Data               ResponseData `json:"Data"`
}

// ResponseData is the Data object of a GetWhatsappHealthStatus answer.
type ResponseData struct {
	CanSendMessage string        `json:"CanSendMessage"`
	Entities       []ResponseRow `json:"Entities"`
}

// ResponseRow is one entity row of Data.Entities.
type ResponseRow struct {
	EntityType     string          `json:"EntityType"`
	CanSendMessage string          `json:"CanSendMessage"`
	WabaID         flexString      `json:"WabaId"`
	BusinessID     flexString      `json:"BusinessId"`
	PhoneNumber    flexString      `json:"PhoneNumber"`
	TemplateCode   flexString      `json:"TemplateCode"`
	Language       string          `json:"Language"`
	Errors         []ResponseError `json:"Errors"`
}

// ResponseError is one entry of a row's Errors.
type ResponseError struct {
	ErrorCode        flexString `json:"ErrorCode"`
	ErrorDescription string     `json:"ErrorDescription"`
	PossibleSolution string     `json:"PossibleSolution"`
}

// ParseResponse decodes a response body. It accepts numbers where the API documents strings
// (ids and error codes are long digit strings that some gateways turn into numbers) and
// never panics on malformed input.
func ParseResponse(body []byte) (*Response, error) {
	var r Response
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return &r, nil
}

// OK reports whether the body says the call succeeded (Code "OK").
func (r *Response) OK() bool { return r.Code == "OK" }

// Entities normalises the rows into health entities identified for target t (see
// health.Identify). Unknown entity types and statuses are kept verbatim.
func (r *Response) Entities(t health.Target) []health.Entity {
	out := make([]health.Entity, 0, len(r.Data.Entities))
	for _, row := range r.Data.Entities {
		e := health.Entity{
			Type:           health.EntityType(row.EntityType),
			CanSendMessage: health.Status(row.CanSendMessage),
			WabaID:         string(row.WabaID),
			BusinessID:     string(row.BusinessID),
			PhoneNumber:    string(row.PhoneNumber),
			TemplateCode:   string(row.TemplateCode),
			Language:       row.Language,
		}
		for _, x := range row.Errors {
			if x.ErrorCode == "" && x.ErrorDescription == "" {
				continue
			}
			e.Errors = append(e.Errors, health.Error{Code: string(x.ErrorCode), Description: x.ErrorDescription, Solution: x.PossibleSolution})
		}
		health.Identify(&e, t)
		out = append(out, e)
	}
	return out
}

// flexString decodes a JSON string, number, bool or null into a string.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case b[0] == '{' || b[0] == '[':
		// An object where a string is documented (AccessDeniedDetail sometimes is): keep its text.
		*s = flexString(b)
	default:
		*s = flexString(b)
	}
	return nil
}

// flexBool decodes true/false, "true"/"false" or null.
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(bytes.TrimSpace(b), `"`))
	if s == "" || s == "null" {
		*v = false
		return nil
	}
	p, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("field Success: want a boolean, got %s", s)
	}
	*v = flexBool(p)
	return nil
}
