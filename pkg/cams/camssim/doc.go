// Package camssim is a simulator of Alibaba Cloud's Chat App Message Service (CAMS) for tests,
// benchmarks and the no-cloud demo. It is an HTTP server on loopback that speaks the Alibaba
// Cloud RPC protocol exactly as github.com/aliyun/alibaba-cloud-sdk-go sends it: parameters in
// the query string (and the form body), HMAC-SHA1 signature version 1.0, the JSON success
// envelope and the JSON error envelope the SDK turns into *errors.ServerError.
//
// It answers GetWhatsappHealthStatus. Every request is checked like the real service checks it:
// common parameters, API version, access key, signature (recomputed from the merged query and
// form parameters and compared in constant time), STS security token, timestamp skew (15
// minutes), signature nonce replay (15 minutes), then the operation's own parameters, then the
// account's QPS limit (a sliding one-second window of accepted requests). What a valid request
// gets back comes from a Scenario (per target, a sequence of steps), from a generator installed
// with SetHandler, or else a healthy default answer.
//
// # Error answers
//
// Errors use Alibaba Cloud's envelope,
// {"RequestId":"…","HostId":"cams.ap-southeast-1.aliyuncs.com","Code":"…","Message":"…","Recommend":"…"}:
//
//	400 MissingAction, MissingVersion, MissingAccessKeyId, MissingSignature, MissingSignatureMethod,
//	    MissingSignatureVersion, MissingSignatureNonce, MissingTimestamp, MissingFormat
//	400 InvalidParameter (Format other than JSON, malformed parameters, NodeType not waba|phone|template)
//	400 InvalidSignatureMethod, InvalidSignatureVersion, InvalidTimeStamp.Format, InvalidTimeStamp.Expired
//	404 InvalidAccessKeyId.NotFound
//	400 SignatureDoesNotMatch (the message carries the server's string to sign, as the real service
//	    does, except when the request carries a SecurityToken; it never carries the secret)
//	400 InvalidSecurityToken.Missing, InvalidSecurityToken.Mismatch
//	400 SignatureNonceUsed
//	400 InvalidVersion
//	404 InvalidAction.NotFound
//	400 MissingNodeType, MissingCustSpaceId, MissingPhoneNumber, MissingTemplateCode,
//	    MissingLanguage, MissingWabaId
//	400 Throttling.User (QPS window, or `fault: throttle`); 429 Throttling.User (`fault: throttle429`)
//	500 InternalError (`fault: internal_error`); 503 ServiceUnavailable (`fault: server_error`)
//	405 UnsupportedHTTPMethod (a method other than GET or POST)
//
// # Scenario format
//
// A scenario is a YAML file (LoadScenario, ParseScenario). Unknown keys are errors, and every
// error names the field path, e.g. `targets[1].steps[2].fault: unknown fault "oops"`. Status
// values are not checked: a status Meta has not documented yet (`WEIRD_VALUE`) is served
// verbatim, which is how a client's handling of unknown values is tested.
//
//	qps: 5            # optional: the account's GetWhatsappHealthStatus limit, overrides Options.QPS when > 0
//	latency: 300ms    # optional: added to every answer, overrides Options.Latency when > 0
//	targets:
//	  - nodeType: phone                 # phone | template | waba
//	    custSpaceId: cs-demo            # optional; empty matches any CustSpaceId
//	    phoneNumber: "8613800000001"    # phone: compared without '+', spaces, dashes
//	    wabaId: "1000001"               # ids the rows carry; defaults "waba-<CustSpaceId>" and
//	    businessId: "2000001"           #   "biz-<CustSpaceId>" (for a waba target, wabaId is its key)
//	    steps:
//	      - {}                          # every row AVAILABLE, no errors
//	      - phone: LIMITED              # shorthand: status only
//	      - phone: {status: BLOCKED, errors: [{code: "141006", description: "…", solution: "…"}]}
//	        waba: {status: LIMITED}
//	      - fault: throttle             # see faults below
//	        times: 3                    # served 3 times before moving on (default 1)
//	      - overall: BLOCKED            # override Data.CanSendMessage (default: worst row)
//	        app: {status: AVAILABLE, errors: [{code: "138025", description: "…"}]}
//	      - extra: [{type: SOMETHING_NEW, canSendMessage: WEIRD_VALUE}]  # raw rows, kept verbatim
//	        omit: [app]                 # rows left out of the answer
//	        latency: 2s                 # extra delay for this step only
//	  - nodeType: template
//	    templateCode: tpl_welcome       # template: matched by code and language
//	    language: en
//	    steps: [{template: LIMITED}]
//	  - nodeType: waba
//	    wabaId: "1000001"               # waba: matched by wabaId
//
// Row keys per node type: a phone query answers rows PHONE_NUMBER (`phone`), WABA (`waba`),
// BUSINESS (`business`), APP (`app`); a template query MESSAGE_TEMPLATE (`template`), WABA,
// BUSINESS, APP; a waba query WABA, BUSINESS, APP. A row key is a status string or a mapping
// {status, errors}; a missing row is AVAILABLE. Every generated row carries WabaId and
// BusinessId (a step may override them with `wabaId`/`businessId`). An `extra` row has keys
// type (required), canSendMessage, phoneNumber, wabaId, businessId, templateCode, language and
// errors, and is served exactly as written. Data.CanSendMessage is the worst row (BLOCKED >
// LIMITED > unknown > AVAILABLE) unless `overall` is given.
//
// Faults: `throttle` (HTTP 400 Throttling.User), `throttle429` (HTTP 429 Throttling.User),
// `server_error` (HTTP 503 ServiceUnavailable), `internal_error` (HTTP 500 InternalError),
// `timeout` (no answer until the client gives up or the server closes), `denied` (HTTP 200 with
// Code Forbidden.AccessDenied, Success false and AccessDeniedDetail set: a non-OK Code in a 2xx
// answer, which the SDK does not report as an error).
//
// Progression: each target has a cursor. Every request that matches the target and passes
// validation and the QPS limit is answered with the current step; after the step has been
// served `times` times the cursor moves on, and the last step repeats forever. Reset rewinds
// every cursor. A target matches on nodeType and its identifiers, and on custSpaceId when the
// target names one; the first matching target wins. A request no target matches is answered by
// the SetHandler generator if one is set, else with every row AVAILABLE.
package camssim
